"""The fleet's service processes: `python index.py` of one tree, each in its own process group.

Each process writes its emails (the `.eml` files backend) into a folder of its
own, so an email sent by two processes is two files, never one overwritten.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fleet_errors import FleetError
from image_probes import http

START_TIMEOUT_SECONDS = 60.0
# The service drains 1 s, then finishes its requests and its mail sender (docs/reliability.md).
STOP_TIMEOUT_SECONDS = 40.0
# Whatever the developer's shell sets, the service sees only these and the fleet's own.
PASSED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE")


class Service:
    """One `python index.py` of `tree` on 127.0.0.1:`port`, named as HAProxy names it."""

    def __init__(
        self, name: str, tree: Path, port: int, environment: dict[str, str], workdir: Path
    ) -> None:
        self.name = name
        self.port = port
        self.tree = tree
        self.mail_dir = workdir / "mail" / name
        self.log_path = workdir / f"{name}.log"
        self._environment = {
            **{k: v for k, v in os.environ.items() if k in PASSED_VARIABLES},
            **environment,
            "PORT": str(port),
            "MAIL_BACKEND": "files",
            "MAIL_DIR": str(self.mail_dir),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process (not waiting for it to serve)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "index.py"],
                cwd=self.tree,
                env=self._environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_serving(self) -> None:
        """Wait until /health answers 200; fail with the log's end if it exits or never does."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if self._running().poll() is not None:
                raise FleetError(f"{self.name} exited at start-up:\n{self.log_tail()}")
            try:
                if http("GET", self.port, "/health")[0] == 200:
                    return
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise FleetError(f"{self.name}: no /health in {START_TIMEOUT_SECONDS:.0f} s")
            time.sleep(0.1)

    def stop_gracefully(self) -> int:
        """SIGTERM, as ECS stops a task; its exit status (FleetError if it does not exit)."""
        process = self._running()
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            raise FleetError(
                f"{self.name} still runs {STOP_TIMEOUT_SECONDS:.0f} s after SIGTERM"
            ) from None

    def kill(self) -> None:
        """SIGKILL, as an out-of-memory kill: no drain, no shutdown, requests cut."""
        process = self._running()
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def clean_up(self) -> None:
        """Kill the process group if anything of it still runs (after a failure)."""
        # Only while unreaped: after that the group's id may belong to someone else.
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def log(self) -> str:
        """Everything the process printed."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = 2000) -> str:
        """The end of what the process printed."""
        return self.log()[-chars:]

    def _running(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise FleetError(f"{self.name} was never started")
        return self.process
