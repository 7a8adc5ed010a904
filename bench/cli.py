"""``python -m bench``: check what the run needs, run every round, print the report."""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import pymysql

from bench import sysstat
from bench.database import drop_all, ensure_loopback, open_target
from bench.errors import BenchError
from bench.options import parse_args
from bench.report import report
from bench.rounds import Context, run_all
from bench.servers import check_server_python, server_kinds
from bench.wrk import ensure_wrk
from tests.support.mysql_target import MySQLTarget


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran (targets missed or not), 1 when it could not run."""
    opts = parse_args(argv)
    target: MySQLTarget | None = None
    prefix = f"bench_{secrets.token_hex(4)}_"
    run_dir: Path | None = None
    try:
        ensure_loopback(opts.db_host)
        kinds = server_kinds(opts)
        wrk = ensure_wrk()
        stack = check_server_python(opts.python, kinds)
        target, version = open_target(opts)
        run_dir = Path(tempfile.mkdtemp(prefix="schoolapp-bench-"))
        ctx = Context(opts, wrk, target, version, prefix, run_dir, sysstat.find_db_server())
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
        if target is not None:
            _drop_databases(target, prefix)
    if run_dir is not None and not opts.keep_logs:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


def _keep_if_useful(run_dir: Path | None) -> None:
    # After a failure the logs of the failed run are what explains it; an empty dir is not.
    if run_dir is not None and not any(run_dir.iterdir()):
        run_dir.rmdir()


def _drop_databases(target: MySQLTarget, prefix: str) -> None:
    try:
        drop_all(target, prefix)
    except pymysql.MySQLError as exc:
        print(f"could not drop this run's databases (bench_*): {exc}", file=sys.stderr)
