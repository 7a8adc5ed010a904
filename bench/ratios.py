"""The service's figures over another server's, round by round, and their printout."""

from __future__ import annotations

from collections.abc import Sequence

from bench.options import Options
from bench.results import RunResult, median
from bench.servers import ServerKind

# Per scenario key: one ratio per round (the service's run over the other's, same round).
Ratios = dict[str, list[float]]


def pick(runs: list[RunResult], server: str, scenario: str) -> list[RunResult]:
    """The runs of SERVER in SCENARIO, in round order."""
    return sorted(
        (r for r in runs if r.server == server and r.scenario == scenario),
        key=lambda r: r.round,
    )


def fmt_ratio(values: Sequence[float]) -> str:
    """The median, then every round's value to show the spread."""
    spread = ", ".join(f"{v:.2f}" for v in values)
    return f"{median(values):.2f}  (rounds: {spread})"


def _cpu_per_request(run: RunResult) -> float:
    return run.cpu_server_pct / run.wrk.rps if run.wrk.rps else float("nan")


def print_ratios(
    runs: list[RunResult], opts: Options, svc: ServerKind, others: Sequence[ServerKind]
) -> tuple[dict[str, Ratios], dict[str, Ratios], dict[str, Ratios]]:
    """Print req/s, p99 and server-CPU-per-request ratios service / each other server;
    return the three, by its tag."""
    rps: dict[str, Ratios] = {}
    p99: dict[str, Ratios] = {}
    cpu: dict[str, Ratios] = {}
    for other in others:
        print()
        print(f"Ratios {svc.label} / {other.label} (median of per-round ratios)")
        rps[other.tag], p99[other.tag], cpu[other.tag] = {}, {}, {}
        for scenario in opts.scenarios:
            pairs = list(
                zip(
                    pick(runs, svc.tag, scenario.key),
                    pick(runs, other.tag, scenario.key),
                    strict=True,
                )
            )
            rps[other.tag][scenario.key] = [a.wrk.rps / b.wrk.rps for a, b in pairs if b.wrk.rps]
            p99[other.tag][scenario.key] = [
                a.wrk.p99_ms / b.wrk.p99_ms for a, b in pairs if b.wrk.p99_ms
            ]
            cpu[other.tag][scenario.key] = [
                _cpu_per_request(a) / _cpu_per_request(b) for a, b in pairs if b.cpu_server_pct
            ]
            print(f"  {scenario.label:<24} req/s {fmt_ratio(rps[other.tag][scenario.key])}")
            print(f"  {'':<24} p99   {fmt_ratio(p99[other.tag][scenario.key])}")
            print(f"  {'':<24} cpu/r {fmt_ratio(cpu[other.tag][scenario.key])}")
    return rps, p99, cpu
