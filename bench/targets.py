"""The targets the service must meet against the ceiling, and their PASS/MISS lines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.results import median

TARGET_REGISTER_RATIO = 0.85
TARGET_HEALTH_RATIO = 0.6
TARGET_P99_RATIO = 1.5
TARGET_RSS_MB = 100.0
TARGET_STARTUP_S = 1.0


@dataclass(frozen=True, slots=True)
class ServiceFigures:
    """What the report measured of the service, as the targets read it."""

    ratios: dict[str, list[float]]
    p99_ratios: dict[str, list[float]]
    errors: int
    rows_text: str
    rows_ok: bool | None
    peak_rss_mb: float
    startups_s: list[float]


def _verdict(ok: bool | None) -> str:
    return "n/a " if ok is None else ("PASS" if ok else "MISS")


def _ratio_target(
    key: str, values: dict[str, list[float]], ok: Callable[[float], bool]
) -> tuple[str, bool | None]:
    if key not in values or not values[key]:
        return "not measured", None
    m = median(values[key])
    return f"{m:.2f}", bool(ok(m))


def print_targets(svc: ServiceFigures) -> None:
    """One PASS/MISS (or n/a) line per target, with the measured value."""
    targets: list[tuple[str, str, bool | None]] = []
    text, ok = _ratio_target("reg32", svc.ratios, lambda m: m >= TARGET_REGISTER_RATIO)
    targets.append((f"register c=32 req/s ratio >= {TARGET_REGISTER_RATIO}", text, ok))
    targets.append(
        ("no errors (service: non-2xx + socket errors, all runs)", str(svc.errors), svc.errors == 0)
    )
    targets.append(("rows equal 201s (service)", svc.rows_text, svc.rows_ok))
    text, ok = _ratio_target("health64", svc.ratios, lambda m: m >= TARGET_HEALTH_RATIO)
    targets.append((f"/health c=64 req/s ratio >= {TARGET_HEALTH_RATIO}", text, ok))
    text, ok = _ratio_target("reg64", svc.p99_ratios, lambda m: m <= TARGET_P99_RATIO)
    targets.append((f"register c=64 p99 ratio <= {TARGET_P99_RATIO}", text, ok))
    targets.append(
        (
            f"service peak RSS <= {TARGET_RSS_MB:.0f} MB",
            f"{svc.peak_rss_mb:.1f} MB",
            svc.peak_rss_mb <= TARGET_RSS_MB,
        )
    )
    med_start = median(svc.startups_s)
    targets.append(
        (
            f"service start to ready <= {TARGET_STARTUP_S:.0f} s (median)",
            f"{med_start:.3f} s",
            med_start <= TARGET_STARTUP_S,
        )
    )
    print()
    print("Targets")
    for name, value, ok in targets:
        print(f"  {_verdict(ok)}  {name:<56} {value}")
