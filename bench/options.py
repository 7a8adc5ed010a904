"""The command line: the scenarios to run and how long, the database, the interpreter."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Scenario:
    """One load shape: a route and a number of wrk connections."""

    key: str
    label: str
    path: str
    connections: int
    register: bool


SCENARIOS = (
    Scenario("reg8", "POST /api/register c=8", "/api/register", 8, True),
    Scenario("reg32", "POST /api/register c=32", "/api/register", 32, True),
    Scenario("reg64", "POST /api/register c=64", "/api/register", 64, True),
    Scenario("health64", "GET /health c=64", "/health", 64, False),
)

# The servers' tags (in database, log and JSON names), and their --servers names in report order.
SERVICE, CEILING, PEER = "svc", "ceil", "peer"
SERVERS = {"service": SERVICE, "ceiling": CEILING, "peer": PEER}


@dataclass(frozen=True, slots=True)
class Options:
    """Parsed command line."""

    rounds: int
    duration: int
    warmup: int
    settle: float
    pool_min: int
    pool_max: int
    db_host: str
    db_port: int
    db_user: str
    db_password: str
    python: str
    service_dir: Path
    scenarios: tuple[Scenario, ...]
    servers: tuple[str, ...]
    count_statuses: bool
    keep_logs: bool
    json_path: Path | None


def _parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the service against a raw-ASGI ceiling and a FastAPI peer.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 round of 3 s, 1 s warm-up"
    )
    parser.add_argument("--rounds", type=int, help="rounds per scenario and server (default 3)")
    parser.add_argument("--duration", type=int, help="seconds per measured wrk run (default 8)")
    parser.add_argument("--warmup", type=int, help="seconds of warm-up per process (default 2)")
    parser.add_argument(
        "--settle",
        type=float,
        help="before each run, wait up to this many seconds for the machine to go idle"
        " (default 3, --quick 1)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(s.key for s in SCENARIOS),
        help="comma-separated subset of: " + ", ".join(s.key for s in SCENARIOS),
    )
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help="comma-separated subset of: " + ", ".join(SERVERS) + " (ratios need the service)",
    )
    parser.add_argument(
        "--pool-max",
        type=int,
        default=int(env.get("DB_POOL_MAX", "10")),
        help="DB_POOL_MAX given to every server (default: $DB_POOL_MAX or 10)",
    )
    parser.add_argument(
        "--pool-min",
        type=int,
        default=int(env.get("DB_POOL_MIN", "1")),
        help="DB_POOL_MIN given to every server (default: $DB_POOL_MIN or 1)",
    )
    parser.add_argument(
        "--db-host",
        default=env.get("DB_HOST", "127.0.0.1"),
        help="MariaDB host, loopback only (default: $DB_HOST or 127.0.0.1)",
    )
    parser.add_argument(
        "--db-port",
        type=int,
        default=int(env.get("DB_PORT", "3306")),
        help="(default: $DB_PORT or 3306)",
    )
    parser.add_argument(
        "--db-user", default=env.get("DB_USER", "root"), help="(default: $DB_USER or root)"
    )
    parser.add_argument(
        "--db-password",
        default=env.get("DB_PASSWORD", ""),
        help="(default: $DB_PASSWORD or empty)",
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter that runs the servers (default: the one running the benchmark)",
    )
    parser.add_argument(
        "--service-dir", type=Path, default=REPO_DIR, help="directory holding index.py"
    )
    parser.add_argument(
        "--no-status-count",
        action="store_true",
        help="drop the Lua response() callback (a little less wrk CPU; skips the rows check)",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep server and wrk logs of successful runs"
    )
    parser.add_argument("--json", type=Path, help="also write every run's numbers to this file")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Read the command line; the defaults give the full run."""
    parser = _parser()
    args = parser.parse_args(argv)
    by_key = {s.key: s for s in SCENARIOS}
    wanted = [k.strip() for k in args.scenarios.split(",") if k.strip()]
    unknown = [k for k in wanted if k not in by_key]
    if unknown or not wanted:
        parser.error(f"unknown scenario(s): {', '.join(unknown) or '(none given)'}")
    servers = [k.strip() for k in args.servers.split(",") if k.strip()]
    unknown = [k for k in servers if k not in SERVERS]
    if unknown or not servers:
        parser.error(f"unknown server(s): {', '.join(unknown) or '(none given)'}")
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    duration = args.duration if args.duration is not None else (3 if args.quick else 8)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    if rounds < 1 or duration < 1 or warmup < 0:
        parser.error("--rounds and --duration must be >= 1, --warmup >= 0")
    if not 1 <= args.pool_min <= args.pool_max:
        parser.error("need 1 <= --pool-min <= --pool-max")
    return Options(
        rounds=rounds,
        duration=duration,
        warmup=warmup,
        settle=args.settle if args.settle is not None else (1.0 if args.quick else 3.0),
        pool_min=args.pool_min,
        pool_max=args.pool_max,
        db_host=args.db_host,
        db_port=args.db_port,
        db_user=args.db_user,
        db_password=args.db_password,
        python=args.python,
        service_dir=args.service_dir.resolve(),
        scenarios=tuple(by_key[k] for k in wanted),
        servers=tuple(SERVERS[k] for k in SERVERS if k in servers),
        count_statuses=not args.no_status_count,
        keep_logs=args.keep_logs,
        json_path=args.json,
    )
