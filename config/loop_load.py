"""How busy the process is: the share of its time the event loop's thread computes.

Requests are served on one thread; when it computes nearly all the time, the
process is saturated and every cycle given to background work that can wait
(the confirmation emails) is taken from requests. The share is measured from
the thread's CPU clock ten times a second (the loop's lateness was tried first:
a few milliseconds either way, too close to tell saturation from a busy moment).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress

PERIOD_SECONDS = 0.1
# Weight of the newest period in the running average: about the last second counts.
SMOOTHING = 0.2
# Busy ends this far below where it starts, so a load near the line does not flap.
HYSTERESIS = 0.15


class LoopLoad:
    """The loop thread's smoothed CPU share, and whether it says the process is saturated."""

    def __init__(self, busy_above: float) -> None:
        self._busy_above = busy_above
        self._share = 0.0
        self._busy = False
        self._task: asyncio.Task[None] | None = None

    @property
    def share(self) -> float:
        """Share of wall time the loop's thread spent on the CPU, lately (0 to 1)."""
        return self._share

    @property
    def busy(self) -> bool:
        """True from when that share passes `busy_above` until it falls well below it."""
        return self._busy

    def start(self) -> None:
        """Start measuring (on the running loop's thread)."""
        self._task = asyncio.create_task(self._watch(), name="loop-load")

    async def stop(self) -> None:
        """Stop measuring."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _watch(self) -> None:
        wall, cpu = time.monotonic(), time.thread_time()
        while True:
            await asyncio.sleep(PERIOD_SECONDS)
            now_wall, now_cpu = time.monotonic(), time.thread_time()
            share = (now_cpu - cpu) / max(now_wall - wall, 1e-6)
            self._share += (min(share, 1.0) - self._share) * SMOOTHING
            wall, cpu = now_wall, now_cpu
            if self._share > self._busy_above:
                self._busy = True
            elif self._share < self._busy_above - HYSTERESIS:
                self._busy = False
