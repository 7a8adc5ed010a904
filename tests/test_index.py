"""`python index.py` with no configuration serves against the local database."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration
from tests.support.service_process import ServiceProcess


def test_the_process_creates_its_database_and_serves(mysql: MySQLTarget, tmp_path: Path) -> None:
    name = f"schoolapp_fresh_{tmp_path.name[-8:].replace('-', '_')}"
    mysql.drop_database(name)
    environment = mysql.environment(name)
    try:
        with ServiceProcess(environment, tmp_path / "service.log") as service:
            body = registration()
            answer = httpx.post(f"{service.base_url}/api/register", json=body, timeout=10)
            assert answer.status_code == 201
            assert mysql.execute(
                "SELECT email FROM users WHERE id = %s", (answer.json()["id"],), database=name
            ) == [(body["email"],)]
            assert httpx.get(f"{service.base_url}/health/ready", timeout=5).status_code == 200
        log = service.log()
    finally:
        mysql.drop_database(name)
    entries = [json.loads(line) for line in log.splitlines()]
    access = [e for e in entries if e.get("logger") == "schoolapp.access"]
    # The last EMF line, written at the stop, counts the registration (the first minute's).
    metrics = [e for e in entries if "_aws" in e]
    assert metrics[-1]["RegistrationsStored"] == 1
    assert metrics[-1]["Service"] == "schoolapp"
    assert {(e["method"], e["path"], e["status"]) for e in access} >= {
        ("POST", "/api/register", 201),
        ("GET", "/health/ready", 200),
    }
    assert all(e["request_id"] and e["duration_ms"] >= 0 for e in access)
    assert body["email"] not in log  # only masked
    assert body["email"][0] + "***@example.com" in log


def test_the_process_keeps_idle_connections_and_hides_its_server(
    mysql: MySQLTarget, database: str, tmp_path: Path
) -> None:
    environment = mysql.environment(database)
    with ServiceProcess(environment, tmp_path / "service.log") as service:
        answer = httpx.get(f"{service.base_url}/health", timeout=5)
        assert "server" not in answer.headers
        assert answer.headers.get("connection") != "close"
