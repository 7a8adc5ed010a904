"""The rate limits' cost per request, in process: `python -m bench.limiter`.

Prints µs per check of RATE_LIMIT_REGISTER (one address, and a flood of distinct
addresses that fills the store to its cap) and of the mismatch check, and the
memory the store holds at its cap (docs/reliability.md has a run).
"""

from __future__ import annotations

import contextlib
import time
import tracemalloc

from config.errors import TooManyRequests
from controllers.rate_limits import ADDRESS_CAPACITY, RegistrationLimits

ROUNDS = 200_000


def _per_call_us(calls: int, seconds: float) -> float:
    return seconds / calls * 1e6


def one_address() -> float:
    limits = RegistrationLimits("1000000000/hour", "5/hour")
    started = time.perf_counter()
    for _ in range(ROUNDS):
        limits.admit("203.0.113.7")
    return _per_call_us(ROUNDS, time.perf_counter() - started)


def distinct_addresses(count: int) -> tuple[float, int, int]:
    limits = RegistrationLimits("20/minute", "5/hour")
    tracemalloc.start()
    started = time.perf_counter()
    for n in range(count):
        limits.admit(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}")
    elapsed = time.perf_counter() - started
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return _per_call_us(count, elapsed), size, len(limits.by_address.storage)


def mismatch_check() -> float:
    limits = RegistrationLimits("off", "5/hour")
    started = time.perf_counter()
    for _ in range(ROUNDS):
        limits.check_mismatches("Ada.Lovelace@example.com")
    return _per_call_us(ROUNDS, time.perf_counter() - started)


def over_limit() -> float:
    limits = RegistrationLimits("1/hour", "off")
    limits.admit("203.0.113.9")
    started = time.perf_counter()
    for _ in range(ROUNDS):
        with contextlib.suppress(TooManyRequests):
            limits.admit("203.0.113.9")
    return _per_call_us(ROUNDS, time.perf_counter() - started)


def main() -> None:
    """Print the figures."""
    print(f"admit, one address:               {one_address():6.2f} µs per request")
    print(f"admit, over the limit (429):      {over_limit():6.2f} µs per request")
    print(f"mismatch check, email folded:     {mismatch_check():6.2f} µs per request")
    flood = 3 * ADDRESS_CAPACITY
    per_call, size, entries = distinct_addresses(flood)
    print(
        f"admit, {flood:,} distinct addresses: {per_call:6.2f} µs per request (tracemalloc on);"
        f" store {entries:,} counters, {size / 2**20:.1f} MiB"
    )


if __name__ == "__main__":
    main()
