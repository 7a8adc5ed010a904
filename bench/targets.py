"""The targets the service must meet against the ceiling and the peer (issue 21), PASS/MISS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.options import CEILING, PEER
from bench.ratios import Ratios
from bench.results import median

REGISTER_KEYS = ("reg8", "reg32", "reg64")
TARGET_VS_CEILING = 0.75  # register req/s, service / ceiling, at every concurrency
TARGET_VS_PEER = 2.0  # register req/s, service / peer, at every concurrency
TARGET_HEALTH_RATIO = 0.7  # /health c=64 req/s, service / ceiling
TARGET_P99_RATIO = 1.0  # register c=64 p99, service / ceiling
TARGET_CPU_RATIO = 1.4  # server CPU per registration, service / ceiling, at every concurrency
TARGET_RSS_MB = 100.0
TARGET_STARTUP_S = 1.0


@dataclass(frozen=True, slots=True)
class ServiceFigures:
    """What the report measured of the service, as the targets read it."""

    rps_ratios: dict[str, Ratios]  # by the other server's tag
    p99_ratios: dict[str, Ratios]
    cpu_ratios: dict[str, Ratios]
    rps: dict[str, float]  # the service's median req/s per scenario key
    errors: int
    rows_text: str
    rows_ok: bool | None
    peak_rss_mb: float
    startups_s: list[float]


Target = tuple[str, str, bool | None]


def _verdict(ok: bool | None) -> str:
    return "n/a " if ok is None else ("PASS" if ok else "MISS")


def _ratio_target(
    name: str, ratios: dict[str, Ratios], other: str, key: str, ok: Callable[[float], bool]
) -> Target:
    values = ratios.get(other, {}).get(key)
    if not values:
        return name, "not measured", None
    m = median(values)
    # Three decimals: a 1.496 shown as 1.50 beside "MISS >= 1.5" would read as a bug.
    return name, f"{m:.3f}", bool(ok(m))


def _scaling(rps: dict[str, float]) -> Target:
    name = "service register c=64 req/s >= its c=8 req/s"
    if "reg8" not in rps or "reg64" not in rps:
        return name, "not measured", None
    low, high = rps["reg8"], rps["reg64"]
    return name, f"{high:.0f} vs {low:.0f} ({high / low:.2f})", high >= low


def _ratio_targets(svc: ServiceFigures) -> list[Target]:
    targets = [
        _ratio_target(
            f"register c={key[3:]} req/s >= {TARGET_VS_CEILING} x ceiling",
            svc.rps_ratios,
            CEILING,
            key,
            lambda m: m >= TARGET_VS_CEILING,
        )
        for key in REGISTER_KEYS
    ]
    targets += [
        _ratio_target(
            f"register c={key[3:]} req/s >= {TARGET_VS_PEER} x peer",
            svc.rps_ratios,
            PEER,
            key,
            lambda m: m >= TARGET_VS_PEER,
        )
        for key in REGISTER_KEYS
    ]
    targets += [
        _ratio_target(
            f"register c={key[3:]} server CPU/req <= {TARGET_CPU_RATIO} x ceiling's",
            svc.cpu_ratios,
            CEILING,
            key,
            lambda m: m <= TARGET_CPU_RATIO,
        )
        for key in REGISTER_KEYS
    ]
    targets.append(_scaling(svc.rps))
    targets.append(
        _ratio_target(
            f"register c=64 p99 <= {TARGET_P99_RATIO} x ceiling's",
            svc.p99_ratios,
            CEILING,
            "reg64",
            lambda m: m <= TARGET_P99_RATIO,
        )
    )
    targets.append(
        _ratio_target(
            f"/health c=64 req/s >= {TARGET_HEALTH_RATIO} x ceiling",
            svc.rps_ratios,
            CEILING,
            "health64",
            lambda m: m >= TARGET_HEALTH_RATIO,
        )
    )
    return targets


def print_targets(svc: ServiceFigures) -> None:
    """One PASS/MISS (or n/a) line per target, with the measured value."""
    med_start = median(svc.startups_s)
    targets = [
        *_ratio_targets(svc),
        (
            "no errors (service: non-2xx + socket errors, all runs)",
            str(svc.errors),
            svc.errors == 0,
        ),
        ("rows equal 201s (service)", svc.rows_text, svc.rows_ok),
        (
            f"service peak RSS <= {TARGET_RSS_MB:.0f} MB",
            f"{svc.peak_rss_mb:.1f} MB",
            svc.peak_rss_mb <= TARGET_RSS_MB,
        ),
        (
            f"service start to ready <= {TARGET_STARTUP_S:.0f} s (median)",
            f"{med_start:.3f} s",
            med_start <= TARGET_STARTUP_S,
        ),
    ]
    print()
    print("Targets (ratios: median of per-round ratios)")
    for name, value, ok in targets:
        print(f"  {_verdict(ok)}  {name:<56} {value}")
