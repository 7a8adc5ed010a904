#!/usr/bin/env python3
"""Run part of the integration suite through testcontainers, on podman's Docker API.

    bash .ci/testcontainers

1. builds the MariaDB test image (mariadb_test_image.py; kept when current);
2. serves podman's Docker API on a socket of its own (`podman system service`);
3. runs SUBSET with DOCKER_HOST at that socket and TEST_MYSQL_IMAGE at the image,
   the `testcontainers` mark included, and fails unless every test passed and the
   report says testcontainers ran that image on podman;
4. removes the run's container (testcontainers should have) and stops the service,
   on failure and on SIGTERM/SIGINT too.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack, closing
from pathlib import Path

import docker
from image_check import run_check, timed
from mariadb_test_image import DEFAULT_TAG, build_image
from podman_cli import ImageCheckError, Podman, terminate_group

ROOT = Path(__file__).resolve().parent.parent
SUBSET = (
    "tests/test_support_mysql_target.py",
    "tests/controllers/test_registration.py",
    "tests/test_contract.py",
    "tests/models/test_migrations.py",
    "tests/models/db/test_database.py",
    "tests/controllers/test_registration_idempotency.py",
    "tests/test_index.py",
)
SERVICE_START_SECONDS = 30.0
PYTEST_TIMEOUT_SECONDS = 600.0
PYTEST_TEARDOWN_SECONDS = 60.0
CI_BUDGET_SECONDS = 180.0
SERVER_LINE = re.compile(r"^MySQL server: (?P<origin>.*) at \S+ \(container (?P<id>[0-9a-f]+)\)$")


def serve_api(stack: ExitStack, podman: Podman, socket: Path, log: Path) -> str:
    """`podman system service` on `socket` until the stack closes; its DOCKER_HOST."""
    url = f"unix://{socket}"
    with log.open("wb") as output:
        service = podman.start(["system", "service", "--time=0", url], output)
    stack.callback(terminate_group, service)
    deadline = time.monotonic() + SERVICE_START_SECONDS
    while True:
        try:
            with closing(docker.DockerClient(base_url=url, timeout=3)) as client:
                client.ping()
                return url
        except docker.errors.DockerException as exc:
            if service.poll() is not None or time.monotonic() > deadline:
                raise ImageCheckError(
                    f"podman's Docker API did not answer on {socket}: {exc}\n"
                    f"{log.read_text(errors='replace')[-2000:]}"
                ) from exc
        time.sleep(0.2)


def run_subset(docker_host: str, image: str) -> tuple[int, str]:
    """pytest over SUBSET through testcontainers, shown as it runs; its status and output."""
    env = {**os.environ, "DOCKER_HOST": docker_host, "TEST_MYSQL_IMAGE": image}
    # Nothing else may stand in for the engine: without it the run must fail.
    env.pop("TEST_MYSQL_URL", None)
    # -m "": no mark filter, so addopts' `not testcontainers` is lifted for this run.
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "", *SUBSET]
    lines: list[str] = []
    process = subprocess.Popen(  # noqa: S603 - this interpreter, arguments of ours
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Its own session: a stop signal to CI's process group reaches this check,
        # which interrupts pytest so that its teardown runs.
        start_new_session=True,
    )
    # SIGINT, not SIGTERM: pytest then runs its teardown, which removes the container.
    timed_out = threading.Event()

    def time_out() -> None:
        timed_out.set()
        _interrupt(process)

    watchdog = threading.Timer(PYTEST_TIMEOUT_SECONDS, time_out)
    watchdog.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            print(f"  | {line}", end="", flush=True)
            lines.append(line.rstrip("\n"))
    finally:
        watchdog.cancel()
        status = _interrupt(process)
    if timed_out.is_set():
        print(f"  pytest stopped: it ran over {PYTEST_TIMEOUT_SECONDS:.0f} s", flush=True)
        status = status or 1
    return status, "\n".join(lines)


def _interrupt(process: subprocess.Popen[str]) -> int:
    """SIGINT to pytest if it still runs, SIGKILL if its teardown hangs; its status."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=PYTEST_TEARDOWN_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def check(stack: ExitStack, workdir: Path, image: str) -> None:
    """Every step above; what each made is registered on `stack` for removal."""
    podman = build_image(stack, workdir, image)
    with timed("podman's Docker API serving"):
        docker_host = serve_api(stack, podman, workdir / "podman.sock", workdir / "service.log")
    with timed("subset through testcontainers"):
        status, output = run_subset(docker_host, image)
    servers = [m for m in map(SERVER_LINE.match, output.splitlines()) if m is not None]
    left = [
        s["id"] for s in servers if podman.call(["container", "exists", s["id"]]).returncode == 0
    ]
    for container in left:
        podman.run("rm", "--force", "--ignore", container)
    if status != 0:
        raise ImageCheckError(f"pytest failed ({status}) through testcontainers")
    expected = f"testcontainers {image} on podman"
    if [server["origin"] for server in servers] != [expected]:
        raise ImageCheckError(
            f"the report does not say 'MySQL server: {expected} at ...' once: "
            f"{[server.group(0) for server in servers]}"
        )
    if left:
        raise ImageCheckError(f"testcontainers left its container {left[0]} (removed now)")
    print(f"  ok  the tests used {servers[0].group(0)[len('MySQL server: ') :]}")


def main() -> int:
    """Run the check; 0 when it held, 1 with `testcontainers check FAILED: ...` if not."""
    return run_check(
        "testcontainers check",
        f"the integration subset on {DEFAULT_TAG} through podman",
        lambda stack, workdir: check(stack, workdir, DEFAULT_TAG),
        CI_BUDGET_SECONDS,
        time.time(),
    )


if __name__ == "__main__":
    sys.exit(main())
