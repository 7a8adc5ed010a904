"""The service as production runs it: `python index.py` in its own process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from tests.support.environment import without_service_variables
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


class ServiceProcess:
    """Runs `python index.py` with the given environment; output goes to a log file."""

    def __init__(self, environment: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._environment = {
            # Only what the test gives: the developer's shell must not change the mode.
            **without_service_variables(),
            "PORT": str(self.port),
            # Emails of the files backend (local mode's default) stay beside the log.
            "MAIL_DIR": str(log_path.parent / "mail"),
            # Tests register far more than the limits allow one address.
            "RATE_LIMIT_REGISTER": "off",
            "RATE_LIMIT_MISMATCH": "off",
            **environment,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> ServiceProcess:
        """Start the process and, unless `wait` is False, wait until /health answers."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "index.py"],
                cwd=ROOT,
                env=self._environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 20.0) -> None:
        """Poll /health until it answers 200; fail with the log if the process died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exit_code() is not None:
                raise RuntimeError(f"the service exited at start-up:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"the service did not answer /health in {timeout} s:\n{self.log()}")

    def exit_code(self) -> int | None:
        """The exit status, or None while it runs."""
        assert self.process is not None
        return self.process.poll()

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit and return its status."""
        assert self.process is not None
        return self.process.wait(timeout)

    def terminate(self) -> None:
        """Send SIGTERM, as ECS does to stop a task."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the process dies at once, as in an out-of-memory kill."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        """Stop the process if it still runs (SIGTERM, then SIGKILL)."""
        if self.process is not None:
            stop_process(self.process, timeout=30)

    def log(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def run_to_exit(
    environment: dict[str, str], log_path: Path, timeout: float = 30.0
) -> tuple[int, str]:
    """Run the service expecting it to exit (a broken configuration); status and output."""
    service = ServiceProcess(environment, log_path).start(wait=False)
    try:
        code = service.wait(timeout)
    finally:
        service.stop()
    return code, service.log()


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, as ECS stops a task; SIGKILL if it still runs after `timeout` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
