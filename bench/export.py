"""Benchmark the staff CSV export: peak RSS, and registrations' p99 while it streams.

One command, from the repo root, against the local MariaDB (DB_HOST/DB_PORT/DB_USER/
DB_PASSWORD as for the service; loopback only)::

    .venv/bin/python bench/export.py              # 100,000 rows, 10 s of load per phase
    .venv/bin/python bench/export.py --rows 20000 --seconds 5

It makes a throw-away database, migrates it (`python index.py migrate`), seeds
ROWS registrations, creates a staff key (`python index.py keys create`) and
starts the service (`python index.py`). Then two phases of the same wrk load on
POST /api/register (bench/register.lua, C connections): first alone, then with
`GET /api/registrations.csv` streamed back to back by a client reading as fast
as it can. It prints the register p50/p99 and throughput of both phases, each
export's rows, bytes and duration, and the service's peak RSS (VmHWM) before
and after the exports. Standalone on purpose: it shares nothing with bench/run.py.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pymysql

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
REGISTER_LUA = BENCH_DIR / "register.lua"
TARGET_RSS_MB = 100.0
SEED_BATCH = 5000
PROGRAMS = ("computer-science", "engineering", "business", "arts", "medicine")


@dataclass
class Exports:
    """What the export client saw: one entry per complete export."""

    runs: list[tuple[int, int, float]] = field(default_factory=list)  # rows, bytes, seconds
    error: str | None = None


def database_environment(name: str) -> dict[str, str]:
    """The DB_* variables of the local server, with DB_NAME = `name`."""
    return {
        "DB_HOST": os.environ.get("DB_HOST", "127.0.0.1"),
        "DB_PORT": os.environ.get("DB_PORT", "3306"),
        "DB_USER": os.environ.get("DB_USER", "root"),
        "DB_PASSWORD": os.environ.get("DB_PASSWORD", ""),
        "DB_NAME": name,
    }


def new_database(prefix: str) -> tuple[str, dict[str, str]]:
    """A new, empty database `prefix_<random>` on the local server, and its DB_* variables."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    env = database_environment(name)
    with connect(env, None) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    return name, env


def drop_database(env: dict[str, str], name: str) -> None:
    """Drop a database `new_database` made (nothing if it is gone already)."""
    with connect(env, None) as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


def connect(env: dict[str, str], database: str | None) -> pymysql.Connection[Any]:
    """An autocommitting connection to the benchmark's server."""
    if env["DB_HOST"] not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"DB_HOST {env['DB_HOST']!r} is not loopback; refusing to load it")
    return pymysql.connect(
        host=env["DB_HOST"],
        port=int(env["DB_PORT"]),
        user=env["DB_USER"],
        password=env["DB_PASSWORD"],
        database=database,
        autocommit=True,
        charset="utf8mb4",
    )


def seed(env: dict[str, str], rows: int) -> None:
    """`rows` registrations spread over the last 90 days, in multi-row INSERTs."""
    start = datetime(2025, 1, 1)
    with connect(env, env["DB_NAME"]) as conn, conn.cursor() as cursor:
        cursor.execute("SET time_zone = '+00:00'")
        for first in range(0, rows, SEED_BATCH):
            batch = [
                (
                    str(uuid.uuid4()),
                    f"Seeded Applicant {i}",
                    f"seeded.{i}@example.com",
                    f"{5550000000 + i}",
                    PROGRAMS[i % len(PROGRAMS)],
                    start + timedelta(seconds=i * 77),
                )
                for i in range(first, min(first + SEED_BATCH, rows))
            ]
            cursor.executemany(
                "INSERT INTO users (id, name, email, phone, program, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                batch,
            )


def run_index(args: list[str], env: dict[str, str]) -> str:
    """`python index.py ARGS` to its end; its stdout."""
    done = subprocess.run(
        [sys.executable, "index.py", *args],
        cwd=REPO_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"index.py {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(port: int, service: subprocess.Popen[bytes]) -> None:
    """Poll /health until it answers."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise SystemExit("the service exited at start-up")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the service did not answer /health in 30 s")


def vm_kib(pid: int, field_name: str) -> int:
    """A Vm* line of /proc/PID/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise SystemExit(f"no {field_name} for process {pid}")


def wrk(wrk_path: str, port: int, connections: int, seconds: int) -> dict[str, object]:
    """One wrk run of POST /api/register; its BENCH_JSON summary."""
    done = subprocess.run(
        [wrk_path, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-s", str(REGISTER_LUA), f"http://127.0.0.1:{port}/api/register",
         "--", secrets.token_hex(6), "nocount"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return dict(json.loads(line.removeprefix("BENCH_JSON ")))
    raise SystemExit(f"wrk printed no summary:\n{done.stdout}\n{done.stderr}")


def export_loop(port: int, key: str, stop: threading.Event, seen: Exports) -> None:
    """Stream the export back to back until `stop`; a failure stops the loop."""
    while not stop.is_set():
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request(
                "GET", "/api/registrations.csv", headers={"Authorization": f"Bearer {key}"}
            )
            answer = conn.getresponse()
            if answer.status != 200:
                seen.error = f"export answered {answer.status}: {answer.read()[:200]!r}"
                return
            size = lines = 0
            while chunk := answer.read(65536):
                size += len(chunk)
                lines += chunk.count(b"\r\n")
        except OSError as exc:
            seen.error = f"export failed: {exc!r}"
            return
        finally:
            conn.close()
        seen.runs.append((lines - 1, size, time.perf_counter() - started))


def latency_ms(summary: dict[str, object], name: str) -> float:
    """A latency percentile of a wrk summary, in milliseconds."""
    latency = summary["latency_us"]
    assert isinstance(latency, dict)
    return float(latency[name]) / 1000


def main() -> None:
    """Run both phases and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration of each phase")
    parser.add_argument("--connections", type=int, default=32)
    options = parser.parse_args()
    wrk_path = shutil.which("wrk")
    if wrk_path is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    name, env = new_database("bench_export")
    log = Path(tempfile.mkdtemp(prefix="bench_export_")) / "service.log"
    service: subprocess.Popen[bytes] | None = None
    try:
        run_index(["migrate"], env)
        began = time.perf_counter()
        seed(env, options.rows)
        print(f"seeded {options.rows:,} rows in {time.perf_counter() - began:.1f} s")
        key = run_index(
            ["keys", "create", "--name", "bench-export", "--role", "viewer"], env
        ).strip()
        port = free_port()
        with log.open("wb") as out:
            service = subprocess.Popen(
                [sys.executable, "index.py"], cwd=REPO_DIR, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, **env, "PORT": str(port)},
            )  # fmt: skip
        wait_healthy(port, service)
        wrk(wrk_path, port, options.connections, 2)  # warm-up
        alone = wrk(wrk_path, port, options.connections, options.seconds)
        rss_before = vm_kib(service.pid, "VmHWM")

        seen, stop = Exports(), threading.Event()
        exporter = threading.Thread(target=export_loop, args=(port, key, stop, seen))
        exporter.start()
        beside = wrk(wrk_path, port, options.connections, options.seconds)
        stop.set()
        exporter.join()
        rss_after = vm_kib(service.pid, "VmHWM")
    finally:
        if service is not None:
            service.terminate()
            service.wait(30)
        drop_database(env, name)

    if seen.error:
        raise SystemExit(seen.error)
    print(f"\nPOST /api/register, wrk c={options.connections}, {options.seconds} s each:")
    for label, summary in (("alone", alone), ("during export", beside)):
        rate = int(str(summary["requests"])) / (int(str(summary["duration_us"])) / 1e6)
        p50, p99 = latency_ms(summary, "p50"), latency_ms(summary, "p99")
        print(f"  {label:<14} {rate:8.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"
              f"   errors {summary['errors']}")  # fmt: skip
    print(f"\nexports completed during the load: {len(seen.runs)}")
    for rows, size, seconds in seen.runs:
        speed = rows / seconds
        print(f"  {rows:,} rows, {size / 1e6:.1f} MB in {seconds:.2f} s ({speed:,.0f} rows/s)")
    verdict = "PASS" if rss_after / 1024 <= TARGET_RSS_MB else "MISS"
    print(f"\nservice peak RSS (VmHWM): {rss_before / 1024:.1f} MB before the exports,"
          f" {rss_after / 1024:.1f} MB after   [{verdict} <= {TARGET_RSS_MB:.0f} MB]")  # fmt: skip


if __name__ == "__main__":
    main()
