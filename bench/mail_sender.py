"""Registrations while the confirmation-email sender works through 10,000 emails, vs no sender.

    .venv/bin/python bench/mail_sender.py [--rounds 2] [--duration 8] [--loads 32,4@20]

Against the local MariaDB (DB_HOST/DB_PORT/DB_USER/DB_PASSWORD, root on
127.0.0.1:3306 by default), each run starts `python index.py` fresh on a fresh
database and drives `POST /api/register` with `wrk -t1` (bench/register.lua)
for a warm-up and then `--duration` seconds, once the machine is idle. Loads:
`32` is 32 connections flat out, the service saturated (the sender then yields,
one email a second); `4@20` is 4 connections pausing 20 ms before each request
(bench/register_paced.lua), at most 200 a second: time to spare, as with a real
admissions form (the sender runs at its rate). Scenarios, alternating each round:

- `off`: MAIL_BACKEND=off, no sender: today's registration path;
- `ses-14/s`: the sender on, through SES (a stand-in endpoint on loopback that
  accepts at once, in a process of its own), at the default MAIL_RATE of 14 a
  second, with 10,000 emails already owed in the outbox;
- `ses-flat-out`: the same at MAIL_RATE=1000, so the sender never waits for its
  rate: the most CPU it can take from registrations.

It prints registrations a second, p50 and p99, the service's CPU per
registration and the emails sent during the measured seconds, then each
scenario's ratios to `off` at the same load (the issue's limits: throughput
within 10 %, p99 not growing). It needs wrk (`apt-get install -y wrk`).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pymysql

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
REGISTER_LUA = BENCH_DIR / "register.lua"
PACED_LUA = BENCH_DIR / "register_paced.lua"
BACKLOG = 10_000
SCENARIOS = {
    "off": {"MAIL_BACKEND": "off"},
    "ses-14/s": {"MAIL_BACKEND": "ses"},
    "ses-flat-out": {"MAIL_BACKEND": "ses", "MAIL_RATE": "1000"},
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Load:
    """N connections, each pausing `pause_ms` before a request (0: flat out)."""

    connections: int
    pause_ms: int

    @classmethod
    def parse(cls, text: str) -> Load:
        connections, _, pause = text.partition("@")
        return cls(int(connections), int(pause or 0))

    def __str__(self) -> str:
        return f"c={self.connections}" + (f"@{self.pause_ms}ms" if self.pause_ms else "")


@dataclass
class Run:
    scenario: str
    load: Load
    per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    emails_sent: int
    non_2xx: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def db_settings() -> dict[str, str]:
    return {
        "DB_HOST": os.environ.get("DB_HOST", "127.0.0.1"),
        "DB_PORT": os.environ.get("DB_PORT", "3306"),
        "DB_USER": os.environ.get("DB_USER", "root"),
        "DB_PASSWORD": os.environ.get("DB_PASSWORD", ""),
    }


def connect(database: str | None = None) -> pymysql.Connection:
    settings = db_settings()
    return pymysql.connect(
        host=settings["DB_HOST"],
        port=int(settings["DB_PORT"]),
        user=settings["DB_USER"],
        password=settings["DB_PASSWORD"],
        database=database,
        autocommit=True,
    )


def query(sql: str, database: str | None = None) -> int:
    with connect(database) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
        return int(row[0]) if row else 0


def seed_backlog(database: str, environment: dict[str, str]) -> None:
    """Migrate `database`, then owe BACKLOG emails: registrations with pending outbox rows."""
    subprocess.run(
        [sys.executable, "index.py", "migrate"], cwd=REPO_DIR, env=environment, check=True,
        capture_output=True,
    )  # fmt: skip
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    users = [
        (str(uuid.uuid4()), "Backlog", f"backlog{n}@example.com", "5550000000", "arts", now)
        for n in range(BACKLOG)
    ]
    with connect(database) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO users (id, name, email, phone, program, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            users,
        )
        cursor.executemany(
            "INSERT INTO mail_outbox (user_id, status, due_at, created_at)"
            " VALUES (%s, 'pending', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))",
            [(user[0],) for user in users],
        )


class AcceptingSes(BaseHTTPRequestHandler):
    """SES v2 SendEmail answered at once with a new MessageId."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"MessageId": uuid.uuid4().hex}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@contextmanager
def accepting_ses() -> Iterator[str]:
    """The stand-in SES in a child process (its CPU is not the service's); its URL."""
    port = free_port()
    child = subprocess.Popen([sys.executable, __file__, "--serve-ses", str(port)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(10)


def machine_busy_share(seconds: float = 1.0) -> float:
    """Share of all cores busy over `seconds`, from /proc/stat."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields), idle

    total, idle = sample()
    time.sleep(seconds)
    total2, idle2 = sample()
    return 1 - (idle2 - idle) / max(total2 - total, 1)


def settle(limit: float = 30.0) -> None:
    """Wait (up to `limit` s) until other work leaves the machine mostly idle."""
    deadline = time.monotonic() + limit
    while machine_busy_share() > 0.15 and time.monotonic() < deadline:
        pass


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def wrk(url: str, seconds: float, load: Load, latency: bool) -> dict[str, object]:
    script = PACED_LUA if load.pause_ms else REGISTER_LUA
    command = ["wrk", "-t1", f"-c{load.connections}", f"-d{seconds}s", "-s", str(script)]
    if latency:
        command.append("--latency")
    command += [f"{url}/api/register", "--", secrets.token_hex(6), "count", str(load.pause_ms)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            result: dict[str, object] = json.loads(line.removeprefix("BENCH_JSON "))
            return result
    raise RuntimeError(f"wrk printed no BENCH_JSON line:\n{output}")


def measure(scenario: str, load: Load, args: argparse.Namespace, ses_url: str, logs: Path) -> Run:
    database = f"bench_mail_{uuid.uuid4().hex[:10]}"
    query(f"CREATE DATABASE {database}")
    port = free_port()
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "PARAM_", "DB_"))},
        **db_settings(),
        "DB_NAME": database,
        "PORT": str(port),
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_ENDPOINT_URL_SESV2": ses_url,
        "MAIL_FROM": "admissions@school.example.edu",
        **SCENARIOS[scenario],
    }
    try:
        seed_backlog(database, environment)
        log = (logs / f"{database}.log").open("wb")
        service = subprocess.Popen(
            [sys.executable, "index.py"], cwd=REPO_DIR, env=environment, stdout=log, stderr=log
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, log.name)
            settle()
            wrk(url, args.warmup, load, latency=False)
            sent_before = query("SELECT COUNT(*) FROM mail_outbox WHERE status = 'sent'", database)
            cpu_before = cpu_seconds(service.pid)
            result = wrk(url, args.duration, load, latency=True)
            cpu = cpu_seconds(service.pid) - cpu_before
            sent = query("SELECT COUNT(*) FROM mail_outbox WHERE status = 'sent'", database)
        finally:
            service.terminate()
            service.wait(60)
            log.close()
    finally:
        query(f"DROP DATABASE IF EXISTS {database}")
    requests = int(result["requests"])  # type: ignore[call-overload]
    latency: dict[str, int] = result["latency_us"]  # type: ignore[assignment]
    statuses: dict[str, int] = result["statuses"] or {}  # type: ignore[assignment]
    seconds = int(result["duration_us"]) / 1e6  # type: ignore[call-overload]
    return Run(
        scenario=scenario,
        load=load,
        per_s=requests / seconds,
        p50_ms=latency["p50"] / 1000,
        p99_ms=latency["p99"] / 1000,
        cpu_us=cpu / max(requests, 1) * 1e6,
        emails_sent=sent - sent_before,
        non_2xx=sum(n for code, n in statuses.items() if not code.startswith("2")),
    )


def wait_healthy(url: str, log: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the service did not get ready; see {log}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--loads", default="32,4@20", help="CONNECTIONS[@PAUSE_MS],...")
    parser.add_argument("--serve-ses", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_ses:
        ThreadingHTTPServer(("127.0.0.1", args.serve_ses), AcceptingSes).serve_forever()
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    loads = [Load.parse(text) for text in args.loads.split(",")]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-mail-") as logs, accepting_ses() as ses_url:
        for round_ in range(args.rounds):
            order = list(SCENARIOS) if round_ % 2 == 0 else list(reversed(SCENARIOS))
            for load in loads:
                for scenario in order:
                    run = measure(scenario, load, args, ses_url, Path(logs))
                    runs.append(run)
                    print(
                        f"round {round_ + 1} {load!s:11} {scenario:13}"
                        f" {run.per_s:7.0f}/s  p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:7.2f} ms"
                        f"  cpu {run.cpu_us:5.0f} µs/req  emails sent {run.emails_sent:5}"
                        f"  non-2xx {run.non_2xx}",
                        flush=True,
                    )
    print(f"\nmedians of {args.rounds} rounds, {args.duration:g} s each")
    for load in loads:
        base = [r for r in runs if r.scenario == "off" and r.load == load]
        for scenario in SCENARIOS:
            mine = [r for r in runs if r.scenario == scenario and r.load == load]
            ratios = ""
            if scenario != "off":
                pairs = list(zip(mine, base, strict=True))
                throughput = statistics.median(m.per_s / b.per_s for m, b in pairs)
                tail = statistics.median(m.p99_ms / b.p99_ms for m, b in pairs)
                ratios = f"  vs off: req/s {throughput:.2f} (limit >= 0.90), p99 {tail:.2f}"
            print(
                f"{load!s:11} {scenario:13}"
                f" {statistics.median(r.per_s for r in mine):7.0f}/s"
                f"  p99 {statistics.median(r.p99_ms for r in mine):7.2f} ms"
                f"  cpu {statistics.median(r.cpu_us for r in mine):5.0f} µs/req"
                f"  emails/s {statistics.median(r.emails_sent for r in mine) / args.duration:6.1f}"
                + ratios
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
