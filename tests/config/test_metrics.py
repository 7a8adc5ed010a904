"""config/metrics.py: counting without locks, percentiles, and the EMF document."""

from __future__ import annotations

import asyncio
import io
import json
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from config.errors import DatabaseUnavailable
from config.metrics import COUNTERS, Metrics, MetricsFlusher, emf_line, percentile_ms

pytestmark = pytest.mark.anyio

STACK = Path(__file__).resolve().parents[2] / "deploy" / "cloudformation.yml"


def parse_emf(line: str) -> dict[str, Any]:
    """The document, checked against the EMF specification's rules that CloudWatch enforces."""
    document: dict[str, Any] = json.loads(line)
    meta = document["_aws"]
    assert isinstance(meta["Timestamp"], int)
    # Milliseconds since the epoch: within a minute of now.
    assert abs(meta["Timestamp"] - time.time() * 1000) < 60_000
    (directive,) = meta["CloudWatchMetrics"]
    assert directive["Namespace"] == "SchoolApp"
    assert directive["Dimensions"] == [["Service"]]
    assert isinstance(document["Service"], str)
    names = [metric["Name"] for metric in directive["Metrics"]]
    assert len(names) == len(set(names)) <= 100
    for name in names:
        value = document[name]
        assert isinstance(value, int | float), name
        assert not isinstance(value, bool), name
    return document


def test_every_counter_goes_out_even_at_zero_with_its_unit() -> None:
    metrics = Metrics()
    metrics.registered(replayed=False)
    counts, histograms = metrics.take()
    document = parse_emf(emf_line("svc", counts, histograms, {}, int(time.time() * 1000)))
    assert document["Service"] == "svc"
    assert document["RegistrationsStored"] == 1
    assert all(document[name] == 0 for name in COUNTERS if name != "RegistrationsStored")
    units = {m["Name"]: m["Unit"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["RegistrationsStored"] == "Count"
    # No answer in the interval: no percentile is declared (a declared metric needs a value).
    assert "RequestLatencyP99" not in document
    assert "RequestLatencyP99" not in units


def test_answers_are_counted_by_class_and_5xx_includes_503() -> None:
    metrics = Metrics()
    for status in (201, 400, 400, 409, 413, 415, 422, 429, 503, 500, 502, 404):
        metrics.answered(status, 0.002)
    counts, _ = metrics.take()
    assert counts["Requests"] == 12
    assert counts["Answers400"] == 2
    assert [counts[f"Answers{s}"] for s in (409, 413, 415, 422, 429, 503)] == [1] * 6
    assert counts["Answers5xx"] == 3


def test_take_returns_only_what_was_counted_since_the_last_take() -> None:
    metrics = Metrics()
    metrics.staff_action()
    assert metrics.take()[0]["StaffActions"] == 1
    assert metrics.take()[0]["StaffActions"] == 0
    metrics.staff_action()
    metrics.staff_action()
    assert metrics.take()[0]["StaffActions"] == 2


def test_percentiles_are_within_ten_percent_above_the_truth() -> None:
    metrics = Metrics()
    for ms in range(1, 1001):  # 1 ms .. 1000 ms, one each
        metrics.answered(200, ms / 1000)
    _, histograms = metrics.take()
    p50 = percentile_ms(histograms["RequestLatency"], 0.50)
    p99 = percentile_ms(histograms["RequestLatency"], 0.99)
    assert p50 is not None
    assert 500 <= p50 <= 550
    assert p99 is not None
    assert 990 <= p99 <= 1089
    assert percentile_ms([0] * 10, 0.5) is None


def test_threads_counting_at_once_lose_nothing() -> None:
    metrics = Metrics()
    per_thread, threads = 20_000, 8
    start = threading.Barrier(threads)

    def work() -> None:
        start.wait()
        for _ in range(per_thread):
            metrics.email("sent")
            metrics.pool_waited(0.001)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    # Taken meanwhile too: a take racing the threads must not lose their counts.
    sent = waits = 0
    while any(worker.is_alive() for worker in workers):
        counts, histograms = metrics.take()
        sent, waits = sent + counts["EmailsSent"], waits + sum(histograms["PoolWait"])
    for worker in workers:
        worker.join()
    counts, histograms = metrics.take()
    assert sent + counts["EmailsSent"] == per_thread * threads
    assert waits + sum(histograms["PoolWait"]) == per_thread * threads


def test_a_disabled_registry_counts_nothing() -> None:
    metrics = Metrics()
    metrics.enabled = False
    metrics.answered(500, 0.1)
    metrics.registered(replayed=True)
    metrics.pool_waited(0.1)
    counts, histograms = metrics.take()
    assert not any(counts.values())
    assert not any(sum(b) for b in histograms.values())


def test_the_email_outcomes_and_events_map_to_their_counters() -> None:
    metrics = Metrics()
    for outcome in ("sent", "sent", "failed", "retry", "released"):
        metrics.email(outcome)
    for kind in ("bounce", "complaint", "complaint", "delivery"):
        metrics.email_event(kind)
    counts, _ = metrics.take()
    assert (counts["EmailsSent"], counts["EmailsFailed"], counts["EmailsRetried"]) == (2, 1, 1)
    assert (counts["EmailsBounced"], counts["EmailsComplained"]) == (1, 2)


def stack_metric_names() -> set[str]:
    """Every SchoolApp metric the stack's alarms and dashboard name."""
    text = STACK.read_text()
    alarms = re.findall(r"Namespace: SchoolApp\s+MetricName: (\w+)", text)
    dashboard = re.findall(r'\["SchoolApp", "(\w+)"', text)
    dashboard += [
        name
        for row in re.findall(r'\["SchoolApp".*?\]\]', text, re.S)
        for name in re.findall(r'\["\.", "(\w+)"', row)
    ]
    return set(alarms) | set(dashboard)


async def test_every_metric_the_stack_names_is_written() -> None:
    names = stack_metric_names()
    # The stack's alarms and dashboard (a mutation: a renamed counter fails here).
    assert {"OutboxOldestPendingSeconds", "EmailsFailed", "Answers5xx", "EmailsSent"} <= names
    stream = io.StringIO()

    async def gauges() -> Mapping[str, float]:
        return {"OutboxPending": 3, "OutboxOldestPendingSeconds": 12.5}

    flusher = MetricsFlusher("svc", 60, gauges, metrics=Metrics(), stream=stream)
    await flusher.flush()
    document = parse_emf(stream.getvalue())
    assert names <= set(document)
    assert document["OutboxOldestPendingSeconds"] == 12.5


async def test_a_failed_sample_still_writes_the_counts(caplog: pytest.LogCaptureFixture) -> None:
    stream = io.StringIO()
    metrics = Metrics()
    metrics.registered(replayed=False)

    async def down() -> Mapping[str, float]:
        raise DatabaseUnavailable("down")

    await MetricsFlusher("svc", 60, down, metrics=metrics, stream=stream).flush()
    document = parse_emf(stream.getvalue())
    assert document["RegistrationsStored"] == 1
    assert "OutboxOldestPendingSeconds" not in document
    assert "gauges not sampled" in caplog.text


async def test_the_flusher_writes_one_line_per_interval_and_a_last_on_stop() -> None:
    stream = io.StringIO()
    metrics = Metrics()
    flusher = MetricsFlusher("svc", 0.2, None, metrics=metrics, stream=stream)
    flusher.start()
    metrics.staff_action()
    assert stream.getvalue() == ""  # counted, nothing written yet
    await asyncio.sleep(0.5)
    metrics.staff_action()
    await flusher.stop()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3  # at 0.2 s, 0.4 s, and on stop
    total = sum(parse_emf(line)["StaffActions"] for line in lines)
    assert total == 2
