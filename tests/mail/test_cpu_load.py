"""The saturation signal the email sender yields to: the process's share of a core."""

from __future__ import annotations

import asyncio
import time

import pytest

from mail.cpu_load import CpuLoad

pytestmark = pytest.mark.anyio


async def spin(seconds: float) -> None:
    """Compute, letting timers run every few milliseconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        until = time.monotonic() + 0.005
        while time.monotonic() < until:
            pass
        await asyncio.sleep(0)


async def test_a_computing_process_is_busy_and_an_idle_one_is_not() -> None:
    # What share of a core a spinning process gets depends on what else the machine
    # runs (a shared CI host: half a core or less); the signal must report that share.
    load = CpuLoad(busy_above=0.3)
    load.start()
    try:
        await asyncio.sleep(1.0)
        assert not load.busy
        assert load.share < 0.2

        cpu, wall = time.process_time(), time.monotonic()
        await spin(1.5)
        got = (time.process_time() - cpu) / (time.monotonic() - wall)
        assert got > 0.3, f"the machine gave this test {got:.0%} of a core: too busy to tell"
        assert load.busy
        assert abs(load.share - got) < 0.25

        await asyncio.sleep(1.5)
        assert not load.busy
    finally:
        await load.stop()
