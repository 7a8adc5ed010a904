"""HAProxy standing in for the ALB: health checks on GET /health, draining through its API.

Debian's package, run in the foreground in a process group of its own, on a
loopback port; servers are switched ready / drain / maint through the runtime
API's Unix socket, as ECS deregisters a target from the ALB.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from debian_packages import DebianPackages
from fleet_errors import FleetError

BACKEND = "app"
START_TIMEOUT_SECONDS = 10.0

# Checks every 0.5 s: 2 failures mark a server DOWN (about 1 s), 2 successes UP.
# `retries` and `redispatch`: a connection refused (a server dead but not yet
# DOWN) is tried on another server; nothing had been sent, so it is safe for a POST.
CONFIG = """\
global
    stats socket {socket} mode 600 level admin
    maxconn 4096

defaults
    mode http
    option http-keep-alive
    option forwardfor
    option redispatch
    retries 3
    timeout connect 2s
    timeout client 30s
    timeout server 15s
    timeout http-keep-alive 10s

frontend alb
    bind 127.0.0.1:{port}
    default_backend {backend}

backend {backend}
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
    # Which server answered, on every answer (HAProxy's own 502s too): who to blame.
    http-after-response set-header X-Fleet-Server %s
{servers}
"""


def ensure_installed() -> list[str]:
    """Install Debian's haproxy when missing; the packages installed now."""
    return DebianPackages().ensure("haproxy")


class HAProxy:
    """One HAProxy in front of `servers` (name, port, enabled); `port` is the ALB's."""

    def __init__(self, workdir: Path, port: int, servers: Sequence[tuple[str, int, bool]]) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._socket = workdir / "haproxy.sock"
        self._config = workdir / "haproxy.cfg"
        self._log = workdir / "haproxy.log"
        lines = [
            f"    server {name} 127.0.0.1:{server_port} check{'' if enabled else ' disabled'}"
            for name, server_port, enabled in servers
        ]
        self._config.write_text(
            CONFIG.format(socket=self._socket, port=port, backend=BACKEND, servers="\n".join(lines))
        )
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start HAProxy; return once its runtime API answers."""
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - fixed program, our config
                ["haproxy", "-db", "-f", str(self._config)],  # noqa: S607
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if self._process.poll() is not None:
                raise FleetError(f"haproxy exited at start-up:\n{self._log.read_text()[-2000:]}")
            try:
                self.command("show info")
            except OSError:
                if time.monotonic() > deadline:
                    raise FleetError("haproxy's runtime API did not answer") from None
                time.sleep(0.05)
            else:
                return

    def stop(self) -> None:
        """Stop HAProxy and anything in its process group."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()

    def command(self, line: str) -> str:
        """One runtime API command and its whole answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as api:
            api.settimeout(5)
            api.connect(str(self._socket))
            api.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := api.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def servers(self) -> dict[str, dict[str, str]]:
        """`show stat` of the backend's servers, by name (status, scur, ...)."""
        text = self.command("show stat").removeprefix("# ")
        return {
            row["svname"]: row
            for row in csv.DictReader(io.StringIO(text))
            if row["pxname"] == BACKEND and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def set_state(self, server: str, state: str) -> None:
        """ready, drain or maint."""
        answer = self.command(f"set server {BACKEND}/{server} state {state}").strip()
        if answer:
            raise FleetError(f"set server {server} state {state}: {answer}")

    def wait_status(self, server: str, status: str, timeout: float) -> None:
        """Wait until HAProxy reports `server` as `status` (UP, DOWN, MAINT...)."""
        deadline = time.monotonic() + timeout
        while (now := self.servers()[server]["status"]) != status:
            if time.monotonic() > deadline:
                raise FleetError(f"{server} is {now}, not {status}, after {timeout:.0f} s")
            time.sleep(0.05)

    def wait_idle(self, server: str, timeout: float) -> None:
        """Wait until `server` has no session left (its requests all answered)."""
        deadline = time.monotonic() + timeout
        while (sessions := self.servers()[server]["scur"]) != "0":
            if time.monotonic() > deadline:
                raise FleetError(f"{server} still has {sessions} sessions after {timeout:.0f} s")
            time.sleep(0.02)

    def wait_busy(self, server: str, timeout: float) -> None:
        """Wait until `server` has a session (a request under way), at most `timeout` s."""
        deadline = time.monotonic() + timeout
        while self.servers()[server]["scur"] == "0" and time.monotonic() < deadline:
            time.sleep(0.001)
