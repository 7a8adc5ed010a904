"""The servers under load, each a fresh process: the service, the ceiling and the peer."""

from __future__ import annotations

import http.client
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.options import CEILING, PEER, SERVERS, SERVICE, Options
from tests.support.environment import without_service_variables
from tests.support.mysql_target import MySQLTarget
from tests.support.service_process import stop_process

BENCH_DIR = Path(__file__).resolve().parent
CEILING_APP = BENCH_DIR / "ceiling_app.py"
PEER_APP = BENCH_DIR / "peer_app.py"
SERVER_LABELS = {tag: name for name, tag in SERVERS.items()}

# Start-up is timed to the first 200, so the poll interval bounds its error.
READY_POLL_S = 0.005
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 30


@dataclass(frozen=True, slots=True)
class ServerKind:
    """How to start one of the servers."""

    tag: str
    label: str
    argv: tuple[str, ...]


def server_kinds(opts: Options) -> tuple[ServerKind, ...]:
    """The servers of ``--servers``, in report order: service, ceiling, peer."""
    # Every server's database is migrated by `python index.py migrate`: it is always needed.
    index = opts.service_dir / "index.py"
    if not index.is_file():
        raise BenchError(f"{index} does not exist: there is no service to benchmark")
    argv = {
        SERVICE: (opts.python, "index.py"),
        CEILING: (opts.python, str(CEILING_APP)),
        PEER: (opts.python, str(PEER_APP)),
    }
    return tuple(
        ServerKind(tag, SERVER_LABELS[tag], argv[tag]) for tag in argv if tag in opts.servers
    )


def check_server_python(python: str, kinds: Sequence[ServerKind]) -> str:
    """Import the servers' stack in their interpreter; a broken one stops the run up front."""
    peer = any(kind.tag == PEER for kind in kinds)
    modules = "aiomysql, pymysql, uvicorn, uvloop, httptools, orjson" + (
        ", fastapi, email_validator" if peer else ""
    )
    versions = "pymysql.VERSION_STRING, aiomysql.__version__, uvicorn.__version__" + (
        ", fastapi.__version__" if peer else ""
    )
    probe = f"import {modules}; print({versions})"
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise BenchError(f"{python} cannot import the servers' stack ({modules}): {last[0]}")
    found = done.stdout.split()
    stack = f"PyMySQL {found[0]}, aiomysql {found[1]}, uvicorn {found[2]}"
    return stack + (f", FastAPI {found[3]}" if peer else "")


def server_env(opts: Options, target: MySQLTarget, port: int, db_name: str) -> dict[str, str]:
    """Environment of a server process: local mode, default logging and programs, this
    run's database and pool size (the shell's settings would skew the comparison)."""
    return {
        **without_service_variables(),
        **target.environment(db_name),
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "DB_POOL_MIN": str(opts.pool_min),
        "DB_POOL_MAX": str(opts.pool_max),
        # wrk sends everything from one address: the limits would answer 429s.
        # Their cost with limits on is bench/limiter.py's figure.
        "RATE_LIMIT_REGISTER": "off",
        "RATE_LIMIT_MISMATCH": "off",
        "PYTHONUNBUFFERED": "1",
    }


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
    kind: ServerKind, opts: Options, env: dict[str, str], port: int, log_path: Path
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
            env=env,
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
            stop_process(proc, STOP_TIMEOUT_S)


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
