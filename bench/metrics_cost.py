"""What the metrics cost a request: recording on against off, in this process.

    .venv/bin/python -m bench.metrics_cost [--requests 200000] [--rounds 5]

- `record`: the calls one registration makes (the edge's answer and latency, the
  pool's wait, the controller's stored row), `--requests` times;
- `edge`: a request through the edge middleware (routes/edge.py) to an ASGI app
  that answers at once, access lines off, so the metrics are most of what varies;
- `flush`: one EMF line (taking the counts, the percentiles, the JSON), once an
  interval, so its cost is spread over every request of the interval.

Each figure is the median of `--rounds`, in microseconds of one core (the
service is CPU-bound at one core: a registration costs it about 300 µs in all).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import time
from collections.abc import Callable

from starlette.types import Message, Receive, Scope, Send

from config.metrics import METRICS, MetricsFlusher
from config.settings import Settings
from routes.edge import AccessLog, Edge


def record_once() -> None:
    """The metrics a 201 records, in the order the layers record them."""
    METRICS.pool_waited(0.00004)
    METRICS.registered(replayed=False)
    METRICS.answered(201, 0.0021)


async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def edge_requests(count: int) -> float:
    """Seconds of CPU for `count` requests through the edge."""
    edge = Edge(_answer, access_log=AccessLog(Settings(log_level="warning")), max_body_bytes=16384)
    scope: Scope = {"type": "http", "method": "POST", "path": "/api/register", "headers": []}

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    async def run() -> float:
        started = time.process_time()
        for _ in range(count):
            await edge(dict(scope), receive, send)
        return time.process_time() - started

    return asyncio.run(run())


def timed(work: Callable[[], None], count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        work()
    return time.process_time() - started


def median_us(rounds: int, count: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(rounds)) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n, rounds = args.requests, args.rounds
    figures: dict[str, dict[bool, float]] = {"record": {}, "edge": {}}
    for enabled in (False, True):
        METRICS.enabled = enabled
        figures["record"][enabled] = median_us(rounds, n, lambda: timed(record_once, n))
        figures["edge"][enabled] = median_us(rounds, n, lambda: edge_requests(n))
    METRICS.enabled = True
    flusher = MetricsFlusher("bench", 60, stream=io.StringIO())
    flushes = 200

    def flush_round() -> float:
        for _ in range(1000):  # a few answers in every interval, so the percentiles are there
            record_once()
        return timed(lambda: flusher.write({"OutboxPending": 0}), 1)

    flush_us = statistics.median(flush_round() for _ in range(flushes)) * 1e6
    print(f"metrics cost, median of {rounds} rounds of {n:,} requests (µs of CPU per request)")
    for name, by_state in figures.items():
        off, on = by_state[False], by_state[True]
        print(f"  {name:<7} off {off:6.3f}  on {on:6.3f}  added {on - off:6.3f}")
    print(f"  flush   {flush_us:.1f} µs per EMF line (once an interval: 60 s by default)")


if __name__ == "__main__":
    main()
