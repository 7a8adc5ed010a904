-- wrk script for POST /api/register: one unique, valid registration per request.
--
-- Usage: wrk -t1 -cN -dS --latency -s bench/register.lua URL -- NONCE [nocount]
--
-- NONCE must be unique per wrk invocation (the benchmark passes one); with the
-- thread number and a per-thread counter it makes every email unique across
-- threads and runs, so every request is a real INSERT and never a 409.
--
-- Status codes are counted in response() so the harness can compare the
-- number of 201s with the number of rows in the table. wrk stops at the end
-- of its duration without reading the responses still in flight, yet the
-- server commits those rows; so request() also records each email as pending
-- and response() clears it when a body echoes it back (every 201 does), and
-- done() lists the emails never answered. The harness counts which of those
-- did land, and checks rows == 201s + those, exactly.
--
-- Defining response() makes wrk parse every response's headers and body;
-- pass "nocount" to drop it (wrk skips that work when response is nil after
-- init()); then no statuses and no pending emails are reported.
--
-- done() prints one machine-readable line starting with "BENCH_JSON ".

local threads = {}
local next_thread = 1

function setup(thread)
   thread:set("tid", next_thread)
   table.insert(threads, thread)
   next_thread = next_thread + 1
end

function init(args)
   nonce = args[1] or tostring(os.time())
   counter = 0
   statuses = {}
   pending = {}
   counting = args[2] ~= "nocount"
   if not counting then
      response = nil
   end
   headers = { ["Content-Type"] = "application/json" }
   -- Only the email must be unique; the phone just varies to look real.
   -- nonce is alphanumeric, so it has no Lua pattern magic characters.
   local prefix = "b" .. nonce .. "t" .. tid .. "n"
   template = '{"name":"Bench Applicant","email":"' .. prefix
      .. '%d@example.com","phone":"%010d","program":"computer-science"}'
   email_pattern = prefix .. "(%d+)@example%.com"
end

function request()
   counter = counter + 1
   if counting then
      pending[counter] = true
   end
   local body = string.format(template, counter, 5550000000 + counter % 10000000)
   return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
   local n = string.match(body, email_pattern)
   if n then
      pending[tonumber(n)] = nil
   end
end

function done(summary, latency, requests)
   local total = {}
   local unanswered = {}
   local counted = false
   for _, thread in ipairs(threads) do
      if thread:get("counting") then
         counted = true
         for code, n in pairs(thread:get("statuses") or {}) do
            total[code] = (total[code] or 0) + n
         end
         local prefix = "b" .. thread:get("nonce") .. "t" .. thread:get("tid") .. "n"
         for n, _ in pairs(thread:get("pending") or {}) do
            table.insert(unanswered, string.format('"%s%d@example.com"', prefix, n))
         end
      end
   end
   local parts = {}
   for code, n in pairs(total) do
      table.insert(parts, string.format('"%s":%d', code, n))
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
         .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},'
         .. '"statuses":%s,"unanswered":%s}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean,
      counted and ("{" .. table.concat(parts, ",") .. "}") or "null",
      counted and ("[" .. table.concat(unanswered, ",") .. "]") or "null"))
end
