"""Every scenario, round and server, one fresh process at a time, and what one run measures."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from pathlib import Path

from bench import sysstat
from bench.database import count_rows, create_with_table
from bench.options import Options, Scenario
from bench.results import RunResult
from bench.servers import ServerKind, running_server, server_env
from bench.wrk import run_wrk
from tests.support.mysql_target import MySQLTarget
from tests.support.ports import free_port

# Between runs: the machine counts as idle under this CPU (% of one core) over a window.
IDLE_CPU_PCT = 10.0
SETTLE_WINDOW_S = 0.25


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a run needs besides its scenario and server."""

    opts: Options
    wrk: str
    target: MySQLTarget
    db_version: str
    prefix: str
    run_dir: Path
    db_pid: int | None


def run_all(ctx: Context, kinds: tuple[ServerKind, ...], stack: str) -> list[RunResult]:
    """Every scenario, round and server, one fresh process at a time; one line per run."""
    opts = ctx.opts
    total = len(opts.scenarios) * opts.rounds * len(kinds)
    print(
        f"MariaDB {ctx.db_version} at {opts.db_host}:{opts.db_port}; {stack};"
        f" pool {opts.pool_min}..{opts.pool_max}; wrk -t1, {opts.duration} s runs after"
        f" {opts.warmup} s warm-up; {total} runs; servers' stdout+stderr and wrk output"
        f" go to {ctx.run_dir}{'' if opts.keep_logs else ' (removed after a successful run)'}"
    )
    if ctx.db_pid is None:
        print("  (no local mariadbd/mysqld process found: its CPU share is not measured)")
    runs: list[RunResult] = []
    for scenario in opts.scenarios:
        for rnd in range(opts.rounds):
            # Rotate who goes first so a drift (MariaDB flushing, heat) hits every server.
            shift = rnd % len(kinds)
            order = kinds[shift:] + kinds[:shift]
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


def run_one(ctx: Context, kind: ServerKind, scenario: Scenario, rnd: int) -> RunResult:
    """Start KIND fresh, warm it up, measure SCENARIO once, check rows, stop it."""
    opts = ctx.opts
    name = f"{ctx.prefix}{kind.tag}_{scenario.key}_{rnd}"
    create_with_table(ctx.target, name)
    port = free_port()
    env = server_env(opts, ctx.target, port, name)
    log_path = ctx.run_dir / f"{kind.tag}-{scenario.key}-r{rnd}.log"
    wrk_log_path = ctx.run_dir / f"wrk-{kind.tag}-{scenario.key}-r{rnd}.txt"
    nonce = f"{ctx.prefix.split('_')[1]}{kind.tag}{scenario.key}r{rnd}"
    with (
        wrk_log_path.open("w") as wrk_log,
        running_server(kind, opts, env, port, log_path) as (proc, startup),
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
        run.rows = count_rows(ctx.target, name)
        run.created_total = sum(r.created for r in loads)
        run.inflight_rows = count_rows(ctx.target, name, unanswered) if unanswered else 0
        if sum(r.requests for r in loads) != sum(sum((r.statuses or {}).values()) for r in loads):
            run.notes.append("wrk's request count differs from the statuses counted in Lua")
    if processes > 1:
        run.notes.append(f"{processes} processes in the server's tree; RSS is the largest")
    ctx.target.drop_database(name)
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
