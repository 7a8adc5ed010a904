"""`python index.py` with no configuration serves against the local database."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import httpx

from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration
from tests.support.ports import free_port
from tests.support.service_process import ServiceProcess, run_to_exit


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


def test_ctrl_c_stops_quietly_with_status_0(
    mysql: MySQLTarget, database: str, tmp_path: Path
) -> None:
    # `make run` sees the status: 0 means no "make: *** Error", and no traceback.
    service = ServiceProcess(mysql.environment(database), tmp_path / "service.log").start()
    try:
        assert service.process is not None
        service.process.send_signal(signal.SIGINT)
        code = service.wait(20)
    finally:
        service.stop()
    assert code == 0, service.log()
    assert "Traceback" not in service.log()
    assert "KeyboardInterrupt" not in service.log()


def test_a_port_in_use_is_one_line_and_no_database_work(mysql: MySQLTarget, tmp_path: Path) -> None:
    name = f"schoolapp_port_{tmp_path.name[-8:].replace('-', '_')}"
    mysql.drop_database(name)
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, log = run_to_exit({**mysql.environment(name), "PORT": str(port)}, tmp_path / "log")
    assert code == 2
    assert (
        log.strip()
        == f"configuration error: PORT: cannot listen on port {port}: in use by another process"
    )
    # The database was never touched: a local run would have created it.
    assert mysql.execute("SHOW DATABASES LIKE %s", (name,)) == []


def test_a_refused_password_in_local_mode_is_one_line_and_exit_2(
    mysql: MySQLTarget, database: str, tmp_path: Path
) -> None:
    environment = {**mysql.environment(database), "DB_PASSWORD": "wrong-password"}
    code, log = run_to_exit(environment, tmp_path / "log")
    assert code == 2
    [line] = log.strip().splitlines()
    assert line.startswith("configuration error: DB_USER/DB_PASSWORD: the database refused them")
    assert "Access denied" in line
    assert "wrong-password" not in line


def test_a_closed_database_port_is_logged_with_host_port_and_why(
    mysql: MySQLTarget, database: str, tmp_path: Path
) -> None:
    closed = free_port()
    environment = {**mysql.environment(database), "DB_HOST": "127.0.0.1", "DB_PORT": str(closed)}
    with ServiceProcess(environment, tmp_path / "service.log") as service:
        assert httpx.get(f"{service.base_url}/health/ready", timeout=5).status_code == 503
        log = service.log()
    assert f"127.0.0.1:{closed}: cannot connect: connection refused" in log
