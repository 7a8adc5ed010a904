"""The limiter's store stays bounded under a flood of distinct client addresses."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from config.errors import TooManyRequests
from controllers.limit_storage import BoundedMemoryStorage
from controllers.rate_limits import RegistrationLimits

FLOOD = 1_000_000
CAPACITY = 50_000


def test_a_million_distinct_addresses_leave_at_most_the_cap_in_memory() -> None:
    limits = RegistrationLimits("20/minute", "5/hour", address_capacity=CAPACITY)
    tracemalloc.start()
    try:
        for n in range(FLOOD):
            limits.admit(f"{n >> 24 & 255}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}")
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(limits.by_address.storage) == CAPACITY
    # About 300 bytes a counter (key, list, dict slot): well under 1 KiB each.
    assert held < CAPACITY * 1024


def test_the_newest_addresses_keep_their_counts_when_the_cap_evicts() -> None:
    limits = RegistrationLimits("2/minute", "off", address_capacity=3)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"):
        limits.admit(address)
    limits.admit("10.0.0.4")
    with pytest.raises(TooManyRequests):
        limits.admit("10.0.0.4")
    limits.admit("10.0.0.1")  # evicted: counted afresh
    assert len(limits.by_address.storage) == 3


def test_expired_windows_are_dropped_as_new_keys_arrive(monkeypatch: pytest.MonkeyPatch) -> None:
    storage = BoundedMemoryStorage(capacity=1000)
    now = [1000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    for n in range(500):
        storage.incr(f"a{n}", 60)
    now[0] += 61
    storage.incr("fresh", 60)
    assert len(storage) == 1
    assert storage.get("a1") == 0
    assert storage.get_expiry("fresh") == now[0] + 60
