"""Benchmark the service against a raw-ASGI ceiling (issue 4).

One command, from the repo root::

    .venv/bin/python bench/run.py            # full run, about 5 minutes
    .venv/bin/python bench/run.py --quick    # smoke run, under a minute

For each scenario (``POST /api/register`` at 8, 32 and 64 connections, ``GET /health``
at 64) and each round, it starts the service (``python index.py``) and the ceiling
(``bench/ceiling_app.py``) one after the other, each in a fresh process against a
fresh throw-away database, drives each with the same wrk load and records
throughput, latency, errors, CPU split, peak RSS, start-up-to-ready time and the
rows-versus-201s check. It prints medians, ratios service / ceiling and each target's
PASS/MISS. Exit status is non-zero only when the benchmark could not run.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import pymysql
import sysstat

# A script in bench/: the service's own modules are one directory up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Both servers find the service's own table there, as a restarted production
# service does, so start-up measures the usual path.
from models.schema import CREATE_USERS_TABLE

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
REGISTER_LUA = BENCH_DIR / "register.lua"
HEALTH_LUA = BENCH_DIR / "health.lua"
CEILING_APP = BENCH_DIR / "ceiling_app.py"

# Variables that would switch the service to AWS mode or change what a valid
# registration is; the benchmark always runs the local mode with the default programs.
SCRUBBED_ENV = (
    "PARAM_HOST_PATH",
    "PARAM_DB_NAME_PATH",
    "PARAM_USER_PATH",
    "DB_SECRET_ARN",
    "PROGRAMS",
)

READY_POLL_S = 0.005
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 30

# Targets of issue 4.
TARGET_REGISTER_RATIO = 0.85
TARGET_HEALTH_RATIO = 0.6
TARGET_P99_RATIO = 1.5
TARGET_RSS_MB = 100.0
TARGET_STARTUP_S = 1.0

# CPU used by processes other than server, database and wrk above which a run is flagged
# (the 2 cores are shared, so anything else running skews the comparison).
NOISY_OTHER_CPU_PCT = 15.0
# Between runs: the machine counts as idle under this CPU (% of one core) over a window.
IDLE_CPU_PCT = 10.0
SETTLE_WINDOW_S = 0.25


class BenchError(Exception):
    """The benchmark could not run (as opposed to a target being missed)."""


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


@dataclass(frozen=True, slots=True)
class ServerKind:
    """How to start one of the two servers."""

    tag: str
    label: str
    argv: tuple[str, ...]


@dataclass(slots=True)
class WrkResult:
    """What one wrk run reported (through the scripts' BENCH_JSON line)."""

    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int
    statuses: dict[str, int] | None
    unanswered: list[str] | None

    @property
    def created(self) -> int:
        """Number of 201 responses wrk read (0 when statuses were not counted)."""
        return (self.statuses or {}).get("201", 0)


@dataclass(slots=True)
class RunResult:
    """One server process through one scenario round."""

    server: str
    scenario: str
    round: int
    startup_s: float
    wrk: WrkResult
    warmup: WrkResult | None
    peak_rss_mb: float
    processes: int
    cpu_server_pct: float
    cpu_db_pct: float
    cpu_wrk_pct: float
    cpu_machine_pct: float
    rows: int | None = None
    created_total: int | None = None
    inflight_rows: int | None = None
    # CPU (% of one core) of a machine that did not go idle before the run, else None.
    busy_before_pct: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def cpu_other_pct(self) -> float:
        """CPU of everything else on the machine: a large value means a noisy measurement.

        Machine ticks (/proc/stat) minus the processes' own times, which the kernel keeps
        with another clock: a few % off either way, so a small negative value reads as 0.
        """
        db = 0.0 if self.cpu_db_pct != self.cpu_db_pct else self.cpu_db_pct  # NaN: not measured
        return max(0.0, self.cpu_machine_pct - self.cpu_server_pct - db - self.cpu_wrk_pct)

    @property
    def rows_ok(self) -> bool | None:
        """rows == 201s + rows of requests still in flight when wrk stopped (None: not checked)."""
        if self.rows is None or self.created_total is None or self.inflight_rows is None:
            return None
        return self.rows == self.created_total + self.inflight_rows


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
    count_statuses: bool
    keep_logs: bool
    json_path: Path | None
    ceiling_as_service: bool


# ----------------------------------------------------------------------------- setup


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Read the command line; defaults give the full run of issue 4."""
    env = os.environ
    parser = argparse.ArgumentParser(
        description="Benchmark the service against a raw-ASGI + aiomysql ceiling.",
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
        "--pool-max",
        type=int,
        default=int(env.get("DB_POOL_MAX", "10")),
        help="DB_POOL_MAX given to both servers (default: $DB_POOL_MAX or 10)",
    )
    parser.add_argument(
        "--pool-min",
        type=int,
        default=int(env.get("DB_POOL_MIN", "1")),
        help="DB_POOL_MIN given to both servers (default: $DB_POOL_MIN or 1)",
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
        help="interpreter that runs both servers (default: the one running this script)",
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
    # Development only: run the ceiling in the service's slot too (before index.py existed).
    parser.add_argument("--ceiling-as-service", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    by_key = {s.key: s for s in SCENARIOS}
    wanted = [k.strip() for k in args.scenarios.split(",") if k.strip()]
    unknown = [k for k in wanted if k not in by_key]
    if unknown or not wanted:
        parser.error(f"unknown scenario(s): {', '.join(unknown) or '(none given)'}")
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
        count_statuses=not args.no_status_count,
        keep_logs=args.keep_logs,
        json_path=args.json,
        ceiling_as_service=args.ceiling_as_service,
    )


def ensure_loopback(host: str) -> None:
    """Refuse any database host off this machine: the benchmark's traffic stays on loopback."""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise BenchError(f"database host {host!r} is not a loopback address; refusing to load it")


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


def check_server_python(python: str) -> str:
    """Import the servers' stack in their interpreter; a broken one stops the run up front."""
    probe = (
        "import aiomysql, pymysql, uvicorn, uvloop, httptools, orjson; "
        "print(pymysql.VERSION_STRING, aiomysql.__version__, uvicorn.__version__)"
    )
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise BenchError(
            f"{python} cannot import the servers' stack (aiomysql, uvicorn, uvloop, httptools,"
            f" orjson): {last[0]}"
        )
    pymysql_v, aiomysql_v, uvicorn_v = done.stdout.split()
    return f"PyMySQL {pymysql_v}, aiomysql {aiomysql_v}, uvicorn {uvicorn_v}"


class Database:
    """Admin connection to the local MariaDB for throw-away databases and row counts."""

    def __init__(self, opts: Options, prefix: str) -> None:
        """Connect (raising BenchError when the server is not there)."""
        self._prefix = prefix
        try:
            self._conn = pymysql.connect(
                host=opts.db_host,
                port=opts.db_port,
                user=opts.db_user,
                password=opts.db_password,
                autocommit=True,
                charset="utf8mb4",
                connect_timeout=5,
            )
        except pymysql.MySQLError as exc:
            raise BenchError(
                f"cannot connect to MariaDB at {opts.db_host}:{opts.db_port}: {exc}"
            ) from exc

    def version(self) -> str:
        """Server version string."""
        return str(self._scalar("SELECT VERSION()"))

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._conn.cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
        return None if row is None else row[0]

    def create(self, name: str) -> None:
        """Create a fresh database with the users table."""
        assert name.startswith(self._prefix)
        with self._conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"CREATE DATABASE `{name}` DEFAULT CHARACTER SET utf8mb4")
            cur.execute(f"USE `{name}`")
            cur.execute(CREATE_USERS_TABLE)

    def count_rows(self, name: str, emails: Sequence[str] = ()) -> int:
        """Rows in NAME.users, or only those with one of EMAILS when given."""
        if not emails:
            return int(self._scalar(f"SELECT COUNT(*) FROM `{name}`.users"))
        marks = ",".join(["%s"] * len(emails))
        sql = f"SELECT COUNT(*) FROM `{name}`.users WHERE email IN ({marks})"
        return int(self._scalar(sql, list(emails)))

    def drop(self, name: str) -> None:
        """Drop one of this run's databases."""
        assert name.startswith(self._prefix)
        with self._conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")

    def drop_all(self) -> None:
        """Drop every database of this run still there (after a failure or interrupt)."""
        with self._conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE %s", (self._prefix + "%",))
            names = [str(row[0]) for row in cur.fetchall()]
        for name in names:
            self.drop(name)

    def close(self) -> None:
        """Close the admin connection."""
        self._conn.close()


# ----------------------------------------------------------------------------- servers


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(opts: Options, port: int, db_name: str) -> dict[str, str]:
    """Environment of a server process: local mode, this run's database and pool size."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update(
        PORT=str(port),
        HOST="127.0.0.1",
        DB_HOST=opts.db_host,
        DB_PORT=str(opts.db_port),
        DB_USER=opts.db_user,
        DB_PASSWORD=opts.db_password,
        DB_NAME=db_name,
        DB_POOL_MIN=str(opts.pool_min),
        DB_POOL_MAX=str(opts.pool_max),
        PYTHONUNBUFFERED="1",
    )
    return env


def ready_status(port: int) -> int | None:
    """Status of GET /health/ready, or None while nothing listens yet."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
    try:
        conn.request("GET", "/health/ready")
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def log_tail(path: Path) -> str:
    """Last lines of a server log, for an error message."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-LOG_TAIL_LINES:]) or "(empty log)"


@contextmanager
def running_server(
    kind: ServerKind, opts: Options, port: int, db_name: str, log_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """Start a server, wait for its first 200 from /health/ready, yield (process, seconds).

    The server's stdout and stderr go to LOG_PATH, so the service pays the cost of its
    per-request log lines as it does in production; it is stopped with SIGTERM on exit.
    """
    with log_path.open("wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            kind.argv,
            cwd=opts.service_dir,
            env=server_env(opts, port, db_name),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C meant for the benchmark reaches the server only
            # through the SIGTERM below, after the benchmark has cleaned up.
            start_new_session=True,
        )
        try:
            startup = _wait_ready(proc, port, started, log_path, kind)
            yield proc, startup
        finally:
            _stop(proc)


def _wait_ready(
    proc: subprocess.Popen[bytes], port: int, started: float, log_path: Path, kind: ServerKind
) -> float:
    while True:
        status = ready_status(port)
        if status == 200:
            return time.perf_counter() - started
        if proc.poll() is not None:
            raise BenchError(
                f"{kind.label} exited with status {proc.returncode} before it was ready;"
                f" its log ({log_path}):\n{log_tail(log_path)}"
            )
        if time.perf_counter() - started > READY_TIMEOUT_S:
            raise BenchError(
                f"{kind.label} not ready after {READY_TIMEOUT_S:.0f} s (last /health/ready"
                f" status: {status}); its log ({log_path}):\n{log_tail(log_path)}"
            )
        time.sleep(READY_POLL_S)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ----------------------------------------------------------------------------- wrk


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


# ----------------------------------------------------------------------------- one run


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a run needs besides its scenario and server."""

    opts: Options
    wrk: str
    db: Database
    prefix: str
    run_dir: Path
    db_pid: int | None


def run_one(ctx: Context, kind: ServerKind, scenario: Scenario, rnd: int) -> RunResult:
    """Start KIND fresh, warm it up, measure SCENARIO once, check rows, stop it."""
    opts = ctx.opts
    name = f"{ctx.prefix}{kind.tag}_{scenario.key}_{rnd}"
    ctx.db.create(name)
    port = free_port()
    log_path = ctx.run_dir / f"{kind.tag}-{scenario.key}-r{rnd}.log"
    wrk_log_path = ctx.run_dir / f"wrk-{kind.tag}-{scenario.key}-r{rnd}.txt"
    nonce = f"{ctx.prefix.split('_')[1]}{kind.tag}{scenario.key}r{rnd}"
    with (
        wrk_log_path.open("w") as wrk_log,
        running_server(kind, opts, port, name, log_path) as (proc, startup),
    ):
        warmup = None
        if opts.warmup:
            warmup = run_wrk(
                ctx.wrk, scenario, port, opts.warmup, nonce + "w", opts.count_statuses, wrk_log
            )
        tree = sysstat.process_tree(proc.pid)
        db_pids = [ctx.db_pid] if ctx.db_pid else []
        before = _cpu_sample(tree, db_pids)
        result = run_wrk(
            ctx.wrk, scenario, port, opts.duration, nonce + "m", opts.count_statuses, wrk_log
        )
        after = _cpu_sample(tree, db_pids)
        tree = sysstat.process_tree(proc.pid)
        peak_kib, processes = sysstat.peak_rss_kib(tree)
    # The server is stopped: no INSERT can still land, so the counts below are final.
    wall = after[0] - before[0]
    run = RunResult(
        server=kind.tag,
        scenario=scenario.key,
        round=rnd,
        startup_s=startup,
        wrk=result,
        warmup=warmup,
        peak_rss_mb=peak_kib / 1024,
        processes=processes,
        cpu_server_pct=100 * (after[1] - before[1]) / wall,
        cpu_db_pct=100 * (after[2] - before[2]) / wall if db_pids else float("nan"),
        cpu_wrk_pct=100 * (after[3] - before[3]) / wall,
        cpu_machine_pct=100 * (after[4].busy - before[4].busy) / wall,
    )
    if scenario.register and opts.count_statuses:
        loads = [r for r in (warmup, result) if r is not None]
        unanswered = [email for r in loads for email in (r.unanswered or [])]
        run.rows = ctx.db.count_rows(name)
        run.created_total = sum(r.created for r in loads)
        run.inflight_rows = ctx.db.count_rows(name, unanswered) if unanswered else 0
        if sum(r.requests for r in loads) != sum(sum((r.statuses or {}).values()) for r in loads):
            run.notes.append("wrk's request count differs from the statuses counted in Lua")
    if processes > 1:
        run.notes.append(f"{processes} processes in the server's tree; RSS is the largest")
    ctx.db.drop(name)
    if not opts.keep_logs:
        log_path.unlink(missing_ok=True)
        wrk_log_path.unlink(missing_ok=True)
    return run


def settle(max_wait: float) -> float | None:
    """Wait until the machine is idle (MariaDB done flushing, nothing else busy).

    Samples whole-machine CPU in short windows and returns at the first window under
    IDLE_CPU_PCT of one core (None), or after MAX_WAIT seconds with the last window's
    CPU in % of one core when the machine never went idle.
    """
    start = time.perf_counter()
    while True:
        before = sysstat.MachineCpu.read()
        time.sleep(SETTLE_WINDOW_S)
        busy = 100 * (sysstat.MachineCpu.read().busy - before.busy) / SETTLE_WINDOW_S
        if busy < IDLE_CPU_PCT:
            return None
        if time.perf_counter() - start >= max_wait:
            return busy


def _cpu_sample(
    tree: list[int], db_pids: list[int]
) -> tuple[float, float, float, float, sysstat.MachineCpu]:
    # wrk is the only child reaped between two samples, so RUSAGE_CHILDREN's delta is wrk's.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (
        time.perf_counter(),
        sysstat.cpu_seconds(tree),
        sysstat.cpu_seconds(db_pids),
        children.ru_utime + children.ru_stime,
        sysstat.MachineCpu.read(),
    )


# ----------------------------------------------------------------------------- report


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _fmt_ratio(values: Sequence[float]) -> str:
    spread = ", ".join(f"{v:.2f}" for v in values)
    return f"{_median(values):.2f}  (rounds: {spread})"


def _verdict(ok: bool | None) -> str:
    return "n/a " if ok is None else ("PASS" if ok else "MISS")


def report(runs: list[RunResult], opts: Options, kinds: Sequence[ServerKind]) -> None:
    """Print medians per scenario and server, ratios, checks and targets."""
    label = {k.tag: k.label for k in kinds}
    svc, ceil = kinds[0].tag, kinds[1].tag

    def pick(server: str, scenario: str) -> list[RunResult]:
        return sorted(
            (r for r in runs if r.server == server and r.scenario == scenario),
            key=lambda r: r.round,
        )

    print()
    print(
        f"Medians of {opts.rounds} round(s) of {opts.duration} s; latency in ms; CPU in % of"
        " one core (2 cores = 200%) during the measured run"
    )
    header = (
        f"{'scenario':<24} {'server':<8} {'req/s':>9} {'p50':>7} {'p90':>7} {'p99':>7}"
        f" {'non-2xx':>8} {'sock err':>8}  {'cpu srv/db/wrk/other':>20}"
    )
    print(header)
    print("-" * len(header))
    for scenario in opts.scenarios:
        for kind in kinds:
            rs = pick(kind.tag, scenario.key)
            w = [r.wrk for r in rs]
            cpu = "/".join(
                f"{_median([getattr(r, a) for r in rs]):.0f}"
                for a in ("cpu_server_pct", "cpu_db_pct", "cpu_wrk_pct", "cpu_other_pct")
            )
            print(
                f"{scenario.label:<24} {label[kind.tag]:<8}"
                f" {_median([x.rps for x in w]):>9.0f}"
                f" {_median([x.p50_ms for x in w]):>7.2f}"
                f" {_median([x.p90_ms for x in w]):>7.2f}"
                f" {_median([x.p99_ms for x in w]):>7.2f}"
                f" {sum(x.non2xx for x in w):>8}"
                f" {sum(x.socket_errors for x in w):>8}  {cpu:>20}"
            )

    print()
    print("Ratios service / ceiling (median of per-round ratios)")
    ratios: dict[str, list[float]] = {}
    p99_ratios: dict[str, list[float]] = {}
    for scenario in opts.scenarios:
        pairs = list(zip(pick(svc, scenario.key), pick(ceil, scenario.key), strict=True))
        ratios[scenario.key] = [a.wrk.rps / b.wrk.rps for a, b in pairs if b.wrk.rps]
        p99_ratios[scenario.key] = [a.wrk.p99_ms / b.wrk.p99_ms for a, b in pairs if b.wrk.p99_ms]
        print(f"  {scenario.label:<24} req/s {_fmt_ratio(ratios[scenario.key])}")
        print(f"  {'':<24} p99   {_fmt_ratio(p99_ratios[scenario.key])}")

    print()
    print("Rows vs 201s (rows == 201s + rows of requests in flight when wrk stopped)")
    rows_ok: dict[str, bool | None] = {}
    rows_text: dict[str, str] = {}
    for kind in kinds:
        checked = [r for r in runs if r.server == kind.tag and r.rows_ok is not None]
        if not checked:
            rows_ok[kind.tag] = None
            print(f"  {label[kind.tag]:<8} not checked (--no-status-count or no register scenario)")
            continue
        rows = sum(r.rows or 0 for r in checked)
        created = sum(r.created_total or 0 for r in checked)
        inflight = sum(r.inflight_rows or 0 for r in checked)
        bad = [f"{r.scenario} r{r.round}" for r in checked if not r.rows_ok]
        rows_ok[kind.tag] = not bad
        rows_text[kind.tag] = (
            f"rows {rows} {'=' if not bad else '!='} 201s {created} + in flight {inflight}"
        )
        print(
            f"  {label[kind.tag]:<8} rows {rows}, 201s {created}, rows of requests in flight"
            f" {inflight}: {'equal' if not bad else 'NOT equal in ' + ', '.join(bad)}"
            f" ({len(checked)} runs, warm-ups included)"
        )

    print()
    print("Per server process (every run is a fresh process)")
    rss: dict[str, float] = {}
    startup: dict[str, list[float]] = {}
    for kind in kinds:
        mine = [r for r in runs if r.server == kind.tag]
        rss[kind.tag] = max(r.peak_rss_mb for r in mine)
        startup[kind.tag] = [r.startup_s for r in mine]
        print(
            f"  {label[kind.tag]:<8} peak RSS (VmHWM) max {rss[kind.tag]:.1f} MB,"
            f" median {_median([r.peak_rss_mb for r in mine]):.1f} MB;"
            f" start to first 200 from /health/ready: median"
            f" {_median(startup[kind.tag]):.3f} s, max {max(startup[kind.tag]):.3f} s"
        )
    for r in runs:
        for note in r.notes:
            print(f"  note: {label[r.server]} {r.scenario} r{r.round}: {note}")
    noisy = [r for r in runs if r.cpu_other_pct > NOISY_OTHER_CPU_PCT]
    if noisy:
        worst = max(r.cpu_other_pct for r in noisy)
        print(
            f"  WARNING: other processes used more than {NOISY_OTHER_CPU_PCT:.0f}% of a core in"
            f" {len(noisy)} of {len(runs)} runs (up to {worst:.0f}%): the numbers are noisy;"
            " rerun on a quiet machine"
        )
    busy = [r for r in runs if r.busy_before_pct is not None]
    if busy:
        print(
            f"  WARNING: {len(busy)} of {len(runs)} runs started on a machine that did not go"
            f" idle within --settle {opts.settle:g} s"
        )

    svc_runs = [r for r in runs if r.server == svc]
    svc_errors = sum(r.wrk.non2xx + r.wrk.socket_errors for r in svc_runs) + sum(
        r.warmup.non2xx + r.warmup.socket_errors for r in svc_runs if r.warmup
    )

    def ratio_target(key: str, values: dict[str, list[float]], ok: Any) -> tuple[str, bool | None]:
        if key not in values or not values[key]:
            return "not measured", None
        m = _median(values[key])
        return f"{m:.2f}", bool(ok(m))

    targets: list[tuple[str, str, bool | None]] = []
    text, ok = ratio_target("reg32", ratios, lambda m: m >= TARGET_REGISTER_RATIO)
    targets.append((f"register c=32 req/s ratio >= {TARGET_REGISTER_RATIO}", text, ok))
    targets.append(
        ("no errors (service: non-2xx + socket errors, all runs)", str(svc_errors), svc_errors == 0)
    )
    targets.append(("rows equal 201s (service)", rows_text.get(svc, "not checked"), rows_ok[svc]))
    text, ok = ratio_target("health64", ratios, lambda m: m >= TARGET_HEALTH_RATIO)
    targets.append((f"/health c=64 req/s ratio >= {TARGET_HEALTH_RATIO}", text, ok))
    text, ok = ratio_target("reg64", p99_ratios, lambda m: m <= TARGET_P99_RATIO)
    targets.append((f"register c=64 p99 ratio <= {TARGET_P99_RATIO}", text, ok))
    targets.append(
        (
            f"service peak RSS <= {TARGET_RSS_MB:.0f} MB",
            f"{rss[svc]:.1f} MB",
            rss[svc] <= TARGET_RSS_MB,
        )
    )
    med_start = _median(startup[svc])
    targets.append(
        (
            f"service start to ready <= {TARGET_STARTUP_S:.0f} s (median)",
            f"{med_start:.3f} s",
            med_start <= TARGET_STARTUP_S,
        )
    )
    print()
    print("Targets (issue 4)")
    for name, value, ok in targets:
        print(f"  {_verdict(ok)}  {name:<56} {value}")


# ----------------------------------------------------------------------------- main


def server_kinds(opts: Options) -> tuple[ServerKind, ServerKind]:
    """The service (``python index.py``) and the ceiling, in report order."""
    ceiling = ServerKind("ceil", "ceiling", (opts.python, str(CEILING_APP)))
    if opts.ceiling_as_service:
        return ServerKind("svc", "svc=ceil", ceiling.argv), ceiling
    index = opts.service_dir / "index.py"
    if not index.is_file():
        raise BenchError(f"{index} does not exist: there is no service to benchmark yet")
    return ServerKind("svc", "service", (opts.python, "index.py")), ceiling


def run_all(ctx: Context, kinds: tuple[ServerKind, ServerKind], stack: str) -> list[RunResult]:
    """Every scenario, round and server, one fresh process at a time; one line per run."""
    opts = ctx.opts
    total = len(opts.scenarios) * opts.rounds * 2
    print(
        f"MariaDB {ctx.db.version()} at {opts.db_host}:{opts.db_port}; {stack};"
        f" pool {opts.pool_min}..{opts.pool_max}; wrk -t1, {opts.duration} s runs after"
        f" {opts.warmup} s warm-up; {total} runs; servers' stdout+stderr and wrk output"
        f" go to {ctx.run_dir}{'' if opts.keep_logs else ' (removed after a successful run)'}"
    )
    if ctx.db_pid is None:
        print("  (no local mariadbd/mysqld process found: its CPU share is not measured)")
    runs: list[RunResult] = []
    for scenario in opts.scenarios:
        for rnd in range(opts.rounds):
            # Alternate who goes first so a drift (MariaDB flushing, heat) hits both.
            order = kinds if rnd % 2 == 0 else kinds[::-1]
            for kind in order:
                busy = settle(opts.settle)
                run = run_one(ctx, kind, scenario, rnd)
                run.busy_before_pct = busy
                runs.append(run)
                w = run.wrk
                print(
                    f"  {scenario.label:<24} r{rnd} {kind.label:<8} {w.rps:>8.0f} req/s"
                    f"  p99 {w.p99_ms:6.2f} ms  ready {run.startup_s:.3f} s"
                    f"  rss {run.peak_rss_mb:5.1f} MB"
                    f"  cpu srv {run.cpu_server_pct:3.0f}% db {run.cpu_db_pct:3.0f}%"
                    f" wrk {run.cpu_wrk_pct:3.0f}% other {run.cpu_other_pct:3.0f}%",
                    flush=True,
                )
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran (targets missed or not), 1 when it could not run."""
    opts = parse_args(argv)
    db: Database | None = None
    run_dir: Path | None = None
    try:
        ensure_loopback(opts.db_host)
        kinds = server_kinds(opts)
        wrk = ensure_wrk()
        stack = check_server_python(opts.python)
        prefix = f"bench_{secrets.token_hex(4)}_"
        db = Database(opts, prefix)
        run_dir = Path(tempfile.mkdtemp(prefix="schoolapp-bench-"))
        ctx = Context(opts, wrk, db, prefix, run_dir, sysstat.find_db_server())
        runs = run_all(ctx, kinds, stack)
        report(runs, opts, kinds)
        if opts.json_path:
            opts.json_path.write_text(json.dumps([asdict(r) for r in runs], indent=1))
    except BenchError as exc:
        print(f"benchmark could not run: {exc}", file=sys.stderr)
        _keep_if_useful(run_dir)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        _keep_if_useful(run_dir)
        return 130
    finally:
        if db is not None:
            _drop_databases(db)
    if run_dir is not None and not opts.keep_logs:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


def _keep_if_useful(run_dir: Path | None) -> None:
    # After a failure the logs of the failed run are what explains it; an empty dir is not.
    if run_dir is not None and not any(run_dir.iterdir()):
        run_dir.rmdir()


def _drop_databases(db: Database) -> None:
    try:
        db.drop_all()
        db.close()
    except pymysql.MySQLError as exc:
        print(f"could not drop this run's databases (bench_*): {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
