-- bench/register.lua with a pause before each request of a connection (wrk's
-- delay() hook): a load the service has time to spare for, like a real form's.
--
-- Usage: wrk -t1 -cN -dS --latency -s bench/register_paced.lua URL -- NONCE count PAUSE_MS
--
-- N connections at PAUSE_MS each send at most N * 1000 / PAUSE_MS requests a second.

local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "register.lua")

local register_init = init

function init(args)
   register_init(args)
   pause_ms = tonumber(args[3]) or 20
end

function delay()
   return pause_ms
end
