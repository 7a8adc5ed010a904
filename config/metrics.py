"""The service's metrics: counted in the process, written as one CloudWatch EMF line per interval.

Recording is a few dictionary and list updates in memory, O(1), no I/O: the
edge records each answer and its latency, the controllers registrations and
staff actions, the pool its wait, the mail worker each email's outcome.
Every `METRICS_INTERVAL_SECONDS` a `MetricsFlusher` (started by the app's
lifespan) takes what was counted since the last line, samples the gauges (the
outbox's backlog: one query an interval, never one a request) and writes one
Embedded Metric Format line to stdout, which CloudWatch Logs turns into metrics
(namespace `SchoolApp`, dimension `Service`).

Each thread counts into a shard of its own (the event loop's, each mail
thread's): only its thread writes a shard, and the flusher only reads them,
taking the difference from its last reading, so no lock is needed anywhere.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from typing import TextIO

import orjson

from config.errors import DatabaseUnavailable, StatementRejected

logger = logging.getLogger("schoolapp.metrics")

NAMESPACE = "SchoolApp"
DIMENSION = "Service"

# Counters, summed over an interval (Unit Count). The stack's alarms and
# dashboard name some of them (deploy/cloudformation.yml): never rename one.
COUNTERS = (
    "Requests",
    "Answers400",
    "Answers409",
    "Answers413",
    "Answers415",
    "Answers422",
    "Answers429",
    "Answers503",
    "Answers5xx",  # every 5xx, 503 included: the service's part of the ALB's 5xx
    "RegistrationsStored",
    "RegistrationsReplayed",
    "StaffActions",
    "EmailsSent",
    "EmailsFailed",
    "EmailsRetried",
    "EmailsBounced",
    "EmailsComplained",
    "PoolAcquires",
)
_ANSWER_CLASSES = {400, 409, 413, 415, 422, 429, 503}
_ANSWER_COUNTERS = {status: f"Answers{status}" for status in _ANSWER_CLASSES}
_EMAIL_COUNTERS = {"sent": "EmailsSent", "failed": "EmailsFailed", "retry": "EmailsRetried"}
_EMAIL_EVENTS = {"bounce": "EmailsBounced", "complaint": "EmailsComplained"}
# Gauges the flusher samples (Unit per name), written only when the sample succeeded.
GAUGE_UNITS = {"OutboxPending": "Count", "OutboxOldestPendingSeconds": "Seconds"}
# Distributions, written as percentiles in milliseconds when the interval had a sample.
PERCENTILES = (("P50", 0.50), ("P99", 0.99))
HISTOGRAMS = ("RequestLatency", "PoolWait")

# Bucket upper bounds in ms, 10 % apart from 0.05 ms to about 2 minutes: a
# percentile is reported as its bucket's bound, at most 10 % above the truth.
_BOUNDS_MS: tuple[float, ...] = tuple(0.05 * 1.1**i for i in range(155))


class _Shard:
    """One thread's counts since start (never reset: the flusher subtracts)."""

    __slots__ = ("counts", "histograms")

    def __init__(self) -> None:
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.histograms = {name: [0] * (len(_BOUNDS_MS) + 1) for name in HISTOGRAMS}


class Metrics:
    """What the service counts; `take()` returns the totals since the last take."""

    def __init__(self) -> None:
        self.enabled = True
        self._local = threading.local()
        self._shards: list[_Shard] = []
        self._seen_counts = dict.fromkeys(COUNTERS, 0)
        self._seen_histograms = {name: [0] * (len(_BOUNDS_MS) + 1) for name in HISTOGRAMS}

    def _shard(self) -> _Shard:
        try:
            shard: _Shard = self._local.shard
        except AttributeError:
            shard = self._local.shard = _Shard()
            self._shards.append(shard)  # list.append is atomic: no lock
        return shard

    def answered(self, status: int, seconds: float) -> None:
        """One answer with its status and how long it took."""
        if not self.enabled:
            return
        shard = self._shard()
        counts = shard.counts
        counts["Requests"] += 1
        if status >= 500:
            counts["Answers5xx"] += 1
        if status in _ANSWER_CLASSES:
            counts[_ANSWER_COUNTERS[status]] += 1
        _observe(shard.histograms["RequestLatency"], seconds)

    def registered(self, *, replayed: bool) -> None:
        """A 201: a new row stored, or a retry answered with the row stored before."""
        self.count("RegistrationsReplayed" if replayed else "RegistrationsStored")

    def staff_action(self) -> None:
        """A staff action written to the audit trail."""
        self.count("StaffActions")

    def pool_waited(self, seconds: float) -> None:
        """A request waited `seconds` for its database connection."""
        if not self.enabled:
            return
        shard = self._shard()
        shard.counts["PoolAcquires"] += 1
        _observe(shard.histograms["PoolWait"], seconds)

    def email(self, outcome: str) -> None:
        """An email's attempt ended: `sent`, `failed` (for good) or `retry`; others ignored."""
        if name := _EMAIL_COUNTERS.get(outcome):
            self.count(name)

    def email_event(self, kind: str) -> None:
        """SES reported a `bounce` or a `complaint`; others ignored."""
        if name := _EMAIL_EVENTS.get(kind):
            self.count(name)

    def count(self, name: str, amount: int = 1) -> None:
        """Add `amount` to the counter `name` (one of COUNTERS)."""
        if self.enabled:
            self._shard().counts[name] += amount

    def take(self) -> tuple[dict[str, int], dict[str, list[int]]]:
        """Counters and histogram buckets since the last take (one caller at a time)."""
        counts = dict.fromkeys(COUNTERS, 0)
        histograms = {name: [0] * (len(_BOUNDS_MS) + 1) for name in HISTOGRAMS}
        for shard in list(self._shards):
            for name, value in list(shard.counts.items()):
                counts[name] += value
            for name, buckets in shard.histograms.items():
                total = histograms[name]
                for i, value in enumerate(list(buckets)):
                    total[i] += value
        delta = {name: counts[name] - self._seen_counts[name] for name in COUNTERS}
        delta_histograms = {
            name: [now - seen for now, seen in zip(histograms[name], seen_h, strict=True)]
            for name, seen_h in self._seen_histograms.items()
        }
        self._seen_counts, self._seen_histograms = counts, histograms
        return delta, delta_histograms


def _observe(buckets: list[int], seconds: float) -> None:
    buckets[bisect.bisect_left(_BOUNDS_MS, seconds * 1000.0)] += 1


def percentile_ms(buckets: list[int], share: float) -> float | None:
    """The bound (ms) of the bucket holding the `share` percentile; None when empty."""
    total = sum(buckets)
    if not total:
        return None
    rank = share * total
    running = 0
    for i, count in enumerate(buckets):
        running += count
        if running >= rank and count:
            return round(_BOUNDS_MS[min(i, len(_BOUNDS_MS) - 1)], 3)
    return round(_BOUNDS_MS[-1], 3)


def emf_line(
    service: str,
    counts: Mapping[str, int],
    histograms: Mapping[str, list[int]],
    gauges: Mapping[str, float],
    timestamp_ms: int,
) -> str:
    """One EMF document: every metric it declares is a top-level member with a number."""
    values: dict[str, float] = dict(counts)
    units = dict.fromkeys(counts, "Count")
    for name, buckets in histograms.items():
        for suffix, share in PERCENTILES:
            value = percentile_ms(buckets, share)
            if value is not None:
                values[name + suffix] = value
                units[name + suffix] = "Milliseconds"
    for name, value in gauges.items():
        values[name] = value
        units[name] = GAUGE_UNITS[name]
    document: dict[str, object] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": [{"Name": name, "Unit": units[name]} for name in values],
                }
            ],
        },
        DIMENSION: service,
        **values,
    }
    return orjson.dumps(document).decode()


# Process-wide: every layer records here without being handed an object.
METRICS = Metrics()

Sampler = Callable[[], Awaitable[Mapping[str, float]]]


class MetricsFlusher:
    """Writes METRICS as one EMF line every `interval` seconds, and a last one on stop."""

    def __init__(
        self,
        service: str,
        interval: float,
        sample: Sampler | None = None,
        *,
        metrics: Metrics = METRICS,
        stream: TextIO | None = None,
    ) -> None:
        self._service = service
        self._interval = interval
        self._sample = sample
        self._metrics = metrics
        self._stream = stream
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start writing in the background; counts from before the start are left out."""
        self._metrics.take()
        self._task = asyncio.create_task(self._run(), name="metrics-flusher")

    async def stop(self) -> None:
        """Stop, writing what was counted since the last line (no gauges: shutting down)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        self.write({})

    async def flush(self) -> None:
        """Sample the gauges and write one line now."""
        self.write(await self._gauges())

    def write(self, gauges: Mapping[str, float]) -> None:
        """Write the counts since the last line, with `gauges`."""
        counts, histograms = self._metrics.take()
        line = emf_line(self._service, counts, histograms, gauges, int(time.time() * 1000))
        # Looked up on each write, so a redirected stdout (tests, tools) is honoured.
        stream = self._stream or sys.stdout
        stream.write(line + "\n")
        stream.flush()

    async def _gauges(self) -> Mapping[str, float]:
        if self._sample is None:
            return {}
        try:
            # A sample never delays the line by more than a share of the interval.
            async with asyncio.timeout(max(1.0, self._interval / 4)):
                return await self._sample()
        except (DatabaseUnavailable, StatementRejected, TimeoutError) as exc:
            # The counts still go out; only the gauges are missing from this line.
            logger.warning("metrics: gauges not sampled: %r", exc)
            return {}

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + self._interval
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += self._interval
            await self.flush()
