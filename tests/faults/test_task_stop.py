"""ECS stops the task: SIGTERM under load drains every request, then the process exits."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration
from tests.support.service_process import ServiceProcess

CLIENTS = 16
ECS_STOP_TIMEOUT = 30.0


@dataclass
class Attempt:
    sent_at: float
    email: str
    status: int | None = None
    error: str | None = None


def load(base_url: str, stop: threading.Event, attempts: list[Attempt]) -> None:
    """One keep-alive client posting registrations until told to stop or refused."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while not stop.is_set():
            body = registration()
            attempt = Attempt(time.monotonic(), body["email"])
            attempts.append(attempt)
            try:
                attempt.status = client.post("/api/register", json=body).status_code
            except httpx.TransportError as exc:
                attempt.error = repr(exc)
                return


def test_sigterm_under_load_answers_every_request_and_exits(
    mysql: MySQLTarget, database: str, tmp_path: Path
) -> None:
    environment = mysql.environment(database)
    service = ServiceProcess(environment, tmp_path / "service.log").start()
    stop = threading.Event()
    attempts: list[Attempt] = []
    threads = [
        threading.Thread(target=load, args=(service.base_url, stop, attempts))
        for _ in range(CLIENTS)
    ]
    try:
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        signalled = time.monotonic()
        service.terminate()
        code = service.wait(ECS_STOP_TIMEOUT)
        stopped = time.monotonic() - signalled
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        service.stop()

    assert code in (0, -15, 143), service.log()
    assert stopped < ECS_STOP_TIMEOUT
    print(f"exit {code} {stopped:.3f} s after SIGTERM, {len(attempts)} requests")
    before = [a for a in attempts if a.sent_at < signalled]
    assert len(before) > 50, "the load did not get going"
    # Every request sent before the signal got an answer, and none was a 5xx.
    unanswered = [a for a in before if a.status is None]
    assert unanswered == [], unanswered[:3]
    assert {a.status for a in attempts if a.status is not None} == {201}
    # Every 201 is a stored row.
    created = [a.email for a in attempts if a.status == 201]
    rows = mysql.execute(
        "SELECT COUNT(*) FROM users WHERE email IN ({})".format(", ".join(["%s"] * len(created))),
        tuple(created),
        database=database,
    )
    assert rows[0][0] == len(created)
