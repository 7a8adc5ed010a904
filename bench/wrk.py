"""The load: wrk with the bench's Lua scripts, and what it reports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import IO

from bench.errors import BenchError
from bench.options import Scenario
from bench.results import WrkResult

BENCH_DIR = Path(__file__).resolve().parent
REGISTER_LUA = BENCH_DIR / "register.lua"
HEALTH_LUA = BENCH_DIR / "health.lua"


def ensure_wrk() -> str:
    """Path of wrk, installing Debian's package when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise BenchError("wrk is not installed; run: sudo apt-get install -y wrk")
    print("wrk not found: installing Debian's package (apt-get install -y wrk) ...", flush=True)
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        done = subprocess.run(cmd, env=apt_env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BenchError(f"{' '.join(cmd)} failed:\n{done.stderr.strip()}")
    found = shutil.which("wrk")
    if not found:
        raise BenchError("apt-get installed wrk but it is not on PATH")
    return found


def run_wrk(
    wrk: str,
    scenario: Scenario,
    port: int,
    seconds: int,
    nonce: str,
    count_statuses: bool,
    out: IO[str],
) -> WrkResult:
    """Run one wrk load (one thread, the scenario's connections) and parse its result."""
    url = f"http://127.0.0.1:{port}{scenario.path}"
    argv = [wrk, "-t1", f"-c{scenario.connections}", f"-d{seconds}s", "--latency"]
    if scenario.register:
        argv += ["-s", str(REGISTER_LUA), url, "--", nonce]
        if not count_statuses:
            argv.append("nocount")
    else:
        argv += ["-s", str(HEALTH_LUA), url]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    out.write(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse_wrk(done.stdout)


def parse_wrk(stdout: str) -> WrkResult:
    """Read the BENCH_JSON line that bench/register.lua and bench/health.lua print."""
    for line in stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            data = json.loads(line.removeprefix("BENCH_JSON "))
            break
    else:
        raise BenchError(f"wrk printed no BENCH_JSON line:\n{stdout}")
    errors = data["errors"]
    latency = data["latency_us"]
    duration_s = data["duration_us"] / 1e6
    return WrkResult(
        requests=data["requests"],
        duration_s=duration_s,
        rps=data["requests"] / duration_s if duration_s else 0.0,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        non2xx=errors["status"],
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        statuses=data["statuses"],
        unanswered=data["unanswered"],
    )
