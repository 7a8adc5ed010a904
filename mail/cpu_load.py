"""How busy the process is: the share of one core it has used lately.

Requests are served on one thread, and Python runs one thread at a time, so a
process using nearly a whole core is saturated: every cycle given to work that
can wait (the confirmation emails) is taken from requests. The share counts
every thread of the process, the worker's own included, so sending more makes
the process look busier, never less. Measured from the process's CPU clock ten
times a second (the event loop's lateness, tried first, could not tell full load
from a busy moment: docs/mail.md).
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


class CpuLoad:
    """The process's smoothed CPU share of one core, and whether it says it is saturated."""

    def __init__(self, busy_above: float) -> None:
        self._busy_above = busy_above
        self._share = 0.0
        self._busy = False
        self._task: asyncio.Task[None] | None = None

    @property
    def share(self) -> float:
        """Share of one core the process used lately (above 1 when C code ran in parallel)."""
        return self._share

    @property
    def busy(self) -> bool:
        """True from when that share passes `busy_above` until it falls well below it."""
        return self._busy

    def start(self) -> None:
        """Start measuring (on the running loop)."""
        self._task = asyncio.create_task(self._watch(), name="cpu-load")

    async def stop(self) -> None:
        """Stop measuring."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _watch(self) -> None:
        wall, cpu = time.monotonic(), time.process_time()
        while True:
            await asyncio.sleep(PERIOD_SECONDS)
            now_wall, now_cpu = time.monotonic(), time.process_time()
            share = (now_cpu - cpu) / max(now_wall - wall, 1e-6)
            self._share += (share - self._share) * SMOOTHING
            wall, cpu = now_wall, now_cpu
            if self._share > self._busy_above:
                self._busy = True
            elif self._share < self._busy_above - HYSTERESIS:
                self._busy = False
