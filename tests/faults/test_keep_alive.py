"""Behind the ALB (idle timeout 60 s) an idle connection must outlive the ALB's."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.support.mysql_target import MySQLTarget
from tests.support.service_process import ServiceProcess

ALB_IDLE_TIMEOUT = 60
REQUEST = b"GET /health HTTP/1.1\r\nHost: schoolapp\r\n\r\n"


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b'{"status":"OK"}'):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_an_idle_connection_stays_open_past_the_albs_timeout(
    mysql: MySQLTarget, database: str, tmp_path: Path
) -> None:
    environment = mysql.environment(database)
    with (
        ServiceProcess(environment, tmp_path / "service.log") as service,
        socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock,
    ):
        sock.sendall(REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        time.sleep(ALB_IDLE_TIMEOUT + 2)
        # Same socket: had the server closed it, this would read b"" or reset.
        sock.sendall(REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
