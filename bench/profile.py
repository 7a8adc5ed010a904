"""Where a registration's and a `/health` probe's CPU goes, per layer (issue 21).

    .venv/bin/pip install py-spy     # a tool, not a dependency of the service
    .venv/bin/python -m bench.profile [--seconds 13] [--connections 32]

Starts the service as production does (`python index.py`, local mode, a throw-away
database, stdout to a file, the rate limits on with a rate wrk's one address never
reaches, so the limiter does its work without refusing), drives it with wrk, and
samples it with py-spy (`record --nonblocking -f raw`). Each sample goes to the
layer of the nearest frame, from the leaf up, that belongs to one: C code (uvloop's
socket calls, httptools, orjson, os.urandom) is counted in the Python frame that
called it, as py-spy without `--native` sees it. The server's own CPU per request
over the sampled window (utime + stime, py-spy's sampling included) is printed too.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from bench.export import drop_database, new_database
from bench.sysstat import cpu_seconds
from bench.wrk import ensure_wrk

REPO = Path(__file__).resolve().parent.parent
REGISTER_LUA = REPO / "bench" / "register.lua"
HEALTH_LUA = REPO / "bench" / "health.lua"
PORT = 3199
SAMPLE_RATE = 200

# (layer, pattern a frame's "function (file:line)" text matches), first match wins per
# frame; frames are tried from the leaf up. The order of the table is the report's.
LAYERS: tuple[tuple[str, str], ...] = (
    ("uvicorn and httptools (parsing; the answer's socket write)", r"uvicorn/"),
    ("asyncio in Python (streams: the socket write to MariaDB; locks)", r"asyncio/(?!runners)"),
    ("aiomysql and PyMySQL (the statement's packets)", r"aiomysql/|pymysql/"),
    ("the event loop (uvloop in C: epoll, reads, callbacks)", r"asyncio/runners\.py|^$"),
    (
        "validation (registration_form.py, pydantic, email-validator)",
        r"registration_form\.py|pydantic|email_validator|idna/",
    ),
    (
        "the access line (AccessLog, render_line)",
        r"AccessLog\.|Edge\._account|render_line|iso_time|_utc_second|config/log\.py",
    ),
    (
        "hot paths (the probe; registration served before routing)",
        r"HotPaths\.|_handler_for|_health_start",
    ),
    (
        "the edge (client, request id, headers, body limit and its timer)",
        r"routes/edge\.py|routes/forwarded\.py",
    ),
    ("CORS", r"routes/cors\.py"),
    ("routing, Starlette's app and middleware", r"starlette/(routing|applications|middleware)"),
    ("Starlette's Request and Response, our JsonResponse", r"starlette/|controllers/responses\.py"),
    ("idempotency and replay (no key sent)", r"models/idempotency\.py|idempotency_key|fingerprint"),
    ("the limiter", r"rate_limits\.py|limit_storage\.py|limits/"),
    ("the metrics", r"config/metrics\.py"),
    ("the handler (controllers/registration.py, health.py)", r"controllers/"),
    ("the row and its INSERT (models/registrations.py)", r"models/registrations\.py"),
    ("the pool and the deadline (models/db/)", r"models/db/"),
    ("the mail worker (hand-offs, outbox)", r"mail/|models/mail_outbox\.py"),
    (
        # py-spy names a file by its path under sys.path: the standard library's modules
        # are bare names (uuid.py) or its packages' folders; ours are in our folders.
        "stdlib called by our code (uuid, os.urandom, datetime, contextvars, re)",
        r"\((?!index\.py|cli\.py)[A-Za-z_]+\.py:|\(<frozen"
        r"|\((re|json|email|concurrent|logging|importlib|collections|encodings)/",
    ),
)
OTHER = "other"


def layer_of(frames: Sequence[str]) -> str:
    """The layer of a sample: that of its nearest frame, from the leaf up, that has one."""
    for frame in reversed(frames):
        for name, pattern in LAYERS:
            if re.search(pattern, frame):
                return name
    return LAYERS[3][0] if not frames or frames == [""] else OTHER


def attribute(raw: Path) -> tuple[collections.Counter[str], int]:
    """Samples per layer in py-spy's raw (collapsed) output, and their total."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        counts[layer_of(frames)] += int(count)
        total += int(count)
    return counts, total


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return int(answer.status)
    except OSError:
        return 0


def _profile(
    pid: int, url: str, lua: Path, args: argparse.Namespace, work: Path, tag: str
) -> tuple[Path, float, int]:
    wrk = ensure_wrk()
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    warm = [wrk, "-t1", f"-c{args.connections}", "-d3s", "-s", str(lua), url, "--", f"w{tag}"]
    subprocess.run(warm, capture_output=True, check=True)
    seconds = args.seconds
    load = subprocess.Popen(
        [
            wrk,
            "-t1",
            f"-c{args.connections}",
            f"-d{seconds + 3}s",
            "-s",
            str(lua),
            url,
            "--",
            f"p{tag}{int(time.time())}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)
    raw = work / f"{tag}.raw"
    cpu_before = cpu_seconds([pid])
    spy = [
        py_spy,
        "record",
        "--nonblocking",
        "-r",
        str(SAMPLE_RATE),
        "-d",
        str(seconds),
        "-f",
        "raw",
        "-o",
        str(raw),
        "-p",
        str(pid),
    ]
    subprocess.run(spy, capture_output=True, check=True)
    cpu = cpu_seconds([pid]) - cpu_before
    out, _ = load.communicate()
    done = [line for line in out.splitlines() if line.startswith("BENCH_JSON ")]
    data = json.loads(done[0].removeprefix("BENCH_JSON ")) if done else {}
    rps = data.get("requests", 0) / (data.get("duration_us", 1) / 1e6)
    return raw, cpu, int(rps * seconds)


def main(argv: Sequence[str] | None = None) -> None:
    """Profile a registration and a probe; print each layer's share of the samples."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--seconds", type=int, default=13, help="sampled seconds per path")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--keep", type=Path, help="keep py-spy's raw output in this folder")
    args = parser.parse_args(argv)
    if shutil.which("py-spy", path=str(Path(sys.executable).parent)) is None:
        raise SystemExit("py-spy is missing: .venv/bin/pip install py-spy")
    name, env = new_database("bench_profile")
    work = args.keep or Path(tempfile.mkdtemp(prefix="schoolapp-profile-"))
    work.mkdir(parents=True, exist_ok=True)
    server_env = {
        **env,
        "PATH": "/usr/bin:/bin",
        "PORT": str(PORT),
        "HOST": "127.0.0.1",
        "RATE_LIMIT_REGISTER": "100000000/second",
        "PYTHONUNBUFFERED": "1",
    }
    base = f"http://127.0.0.1:{PORT}"
    try:
        with (work / "service.log").open("wb") as log:
            server = subprocess.Popen(
                [sys.executable, "index.py"],
                cwd=REPO,
                env=server_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                for _ in range(300):
                    if _get(f"{base}/health/ready") == 200:
                        break
                    time.sleep(0.1)
                results = [
                    (
                        "POST /api/register",
                        *_profile(
                            server.pid, f"{base}/api/register", REGISTER_LUA, args, work, "register"
                        ),
                    ),
                    (
                        "GET /health",
                        *_profile(server.pid, f"{base}/health", HEALTH_LUA, args, work, "health"),
                    ),
                ]
            finally:
                server.terminate()
                server.wait(15)
    finally:
        drop_database(env, name)
    _report(results)
    print(f"py-spy raw output and the service's log: {work}")


def _report(results: Sequence[tuple[str, Path, float, int]]) -> None:
    shares = []
    for path, raw, cpu, requests in results:
        counts, total = attribute(raw)
        shares.append((counts, total))
        per_request = cpu / requests * 1e6 if requests else 0.0
        print(f"{path}: {total} samples, server CPU {per_request:.0f} us a request")
    print(f"\n{'layer':<72} " + " ".join(f"{p:>18}" for p, *_ in results))
    for name in [*(n for n, _ in LAYERS), OTHER]:
        cells = [f"{100 * c[name] / t:17.1f}%" if t else f"{'-':>18}" for c, t in shares]
        print(f"{name:<72} " + " ".join(cells))


if __name__ == "__main__":
    main()
