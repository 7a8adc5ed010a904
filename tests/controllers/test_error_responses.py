"""Error answers are made on the event loop, as a 201 is, in the real `python index.py`.

Starlette runs a plain-function exception handler in a worker thread; the first
one a process ran imported anyio's thread machinery and started that thread, which
made the first 409 of a process about ten times slower than a 201. The figures are
bench/latency_409.py's; this checks the mechanism: no error answer starts a thread.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import httpx

from controllers.error_responses import EXCEPTION_HANDLERS
from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration
from tests.support.service_process import ServiceProcess

JSON = {"Content-Type": "application/json"}


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def test_every_exception_handler_is_a_coroutine_function() -> None:
    plain = [h.__name__ for h in EXCEPTION_HANDLERS.values() if not inspect.iscoroutinefunction(h)]
    assert plain == []


def test_error_answers_start_no_thread(mysql: MySQLTarget, database: str, tmp_path: Path) -> None:
    with (
        # No email sender: its send threads start when a 201's email goes, at their own time.
        ServiceProcess(
            {**mysql.environment(database), "MAIL_BACKEND": "off"}, tmp_path / "service.log"
        ) as service,
        httpx.Client(base_url=service.base_url, timeout=10) as client,
    ):
        assert service.process is not None
        body = registration()
        assert client.post("/api/register", json=body).status_code == 201
        threads = threads_of(service.process.pid)

        statuses = [
            client.post("/api/register", json={**body, "name": "Grace Hopper"}).status_code,
            client.post("/api/register", json={}).status_code,
            client.post("/api/register", content=b"{}").status_code,
            client.post("/api/register", content=b"x" * 20_000, headers=JSON).status_code,
            client.get("/nowhere").status_code,
            client.get("/api/register").status_code,
        ]

        assert statuses == [409, 400, 415, 413, 404, 405]
        assert threads_of(service.process.pid) == threads
