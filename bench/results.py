"""What one wrk load and one measured run produced, and the median that summarises rounds."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


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


def median(values: Sequence[float]) -> float:
    """The median, NaN when nothing was measured."""
    return statistics.median(values) if values else float("nan")
