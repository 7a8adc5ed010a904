"""The printed summary: medians per scenario and server, ratios, rows, processes, targets."""

from __future__ import annotations

from collections.abc import Sequence

from bench.options import SERVICE, Options
from bench.ratios import pick, print_ratios
from bench.results import RunResult, median
from bench.servers import ServerKind
from bench.targets import ServiceFigures, print_targets

# CPU used by processes other than server, database and wrk above which a run is flagged
# (the 2 cores are shared, so anything else running skews the comparison).
NOISY_OTHER_CPU_PCT = 15.0


def report(runs: list[RunResult], opts: Options, kinds: Sequence[ServerKind]) -> None:
    """Print medians per scenario and server, ratios, checks and targets."""
    _print_table(runs, opts, kinds)
    by_tag = {k.tag: k for k in kinds}
    svc = by_tag.get(SERVICE)
    others = [k for k in kinds if k.tag != SERVICE]
    rps_ratios, p99_ratios, cpu_ratios = (
        print_ratios(runs, opts, svc, others) if svc else ({}, {}, {})
    )
    rows = _print_rows(runs, kinds)
    rss, startup = _print_processes(runs, kinds)
    _print_warnings(runs, opts, kinds)
    if svc is None:
        print()
        print("Targets: not checked (they are the service's, and --servers left it out)")
        return
    svc_runs = [r for r in runs if r.server == SERVICE]
    svc_errors = sum(r.wrk.non2xx + r.wrk.socket_errors for r in svc_runs) + sum(
        r.warmup.non2xx + r.warmup.socket_errors for r in svc_runs if r.warmup
    )
    rows_ok, rows_text = rows.get(SERVICE, (None, "not checked"))
    print_targets(
        ServiceFigures(
            rps_ratios=rps_ratios,
            p99_ratios=p99_ratios,
            cpu_ratios=cpu_ratios,
            rps={
                s.key: median([r.wrk.rps for r in pick(runs, SERVICE, s.key)])
                for s in opts.scenarios
            },
            errors=svc_errors,
            rows_text=rows_text,
            rows_ok=rows_ok,
            peak_rss_mb=rss[SERVICE],
            startups_s=startup[SERVICE],
        )
    )


def _print_table(runs: list[RunResult], opts: Options, kinds: Sequence[ServerKind]) -> None:
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
            rs = pick(runs, kind.tag, scenario.key)
            w = [r.wrk for r in rs]
            cpu = "/".join(
                f"{median([getattr(r, a) for r in rs]):.0f}"
                for a in ("cpu_server_pct", "cpu_db_pct", "cpu_wrk_pct", "cpu_other_pct")
            )
            print(
                f"{scenario.label:<24} {kind.label:<8}"
                f" {median([x.rps for x in w]):>9.0f}"
                f" {median([x.p50_ms for x in w]):>7.2f}"
                f" {median([x.p90_ms for x in w]):>7.2f}"
                f" {median([x.p99_ms for x in w]):>7.2f}"
                f" {sum(x.non2xx for x in w):>8}"
                f" {sum(x.socket_errors for x in w):>8}  {cpu:>20}"
            )


def _print_rows(
    runs: list[RunResult], kinds: Sequence[ServerKind]
) -> dict[str, tuple[bool | None, str]]:
    """Per server tag: whether rows equal 201s in every checked run, and the sums as text."""
    print()
    print("Rows vs 201s (rows == 201s + rows of requests in flight when wrk stopped)")
    rows: dict[str, tuple[bool | None, str]] = {}
    for kind in kinds:
        checked = [r for r in runs if r.server == kind.tag and r.rows_ok is not None]
        if not checked:
            rows[kind.tag] = (None, "not checked")
            print(f"  {kind.label:<8} not checked (--no-status-count or no register scenario)")
            continue
        total = sum(r.rows or 0 for r in checked)
        created = sum(r.created_total or 0 for r in checked)
        inflight = sum(r.inflight_rows or 0 for r in checked)
        bad = [f"{r.scenario} r{r.round}" for r in checked if not r.rows_ok]
        rows[kind.tag] = (
            not bad,
            f"rows {total} {'=' if not bad else '!='} 201s {created} + in flight {inflight}",
        )
        print(
            f"  {kind.label:<8} rows {total}, 201s {created}, rows of requests in flight"
            f" {inflight}: {'equal' if not bad else 'NOT equal in ' + ', '.join(bad)}"
            f" ({len(checked)} runs, warm-ups included)"
        )
    return rows


def _print_processes(
    runs: list[RunResult], kinds: Sequence[ServerKind]
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Per server tag: the largest peak RSS (MB) and every start-to-ready time (s)."""
    print()
    print("Per server process (every run is a fresh process)")
    rss: dict[str, float] = {}
    startup: dict[str, list[float]] = {}
    for kind in kinds:
        mine = [r for r in runs if r.server == kind.tag]
        rss[kind.tag] = max(r.peak_rss_mb for r in mine)
        startup[kind.tag] = [r.startup_s for r in mine]
        print(
            f"  {kind.label:<8} peak RSS (VmHWM) max {rss[kind.tag]:.1f} MB,"
            f" median {median([r.peak_rss_mb for r in mine]):.1f} MB;"
            f" start to first 200 from /health/ready: median"
            f" {median(startup[kind.tag]):.3f} s, max {max(startup[kind.tag]):.3f} s"
        )
    return rss, startup


def _print_warnings(runs: list[RunResult], opts: Options, kinds: Sequence[ServerKind]) -> None:
    label = {k.tag: k.label for k in kinds}
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
