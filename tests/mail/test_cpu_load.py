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
    load = CpuLoad(busy_above=0.75)
    load.start()
    try:
        await asyncio.sleep(1.0)
        assert not load.busy
        assert load.share < 0.2

        await spin(1.5)
        assert load.busy
        assert load.share > 0.75

        await asyncio.sleep(1.5)
        assert not load.busy
    finally:
        await load.stop()
