"""What the image check looks at: the image's files and the running container."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import pymysql
from podman_cli import ImageCheckError, Podman

RDS_CA_PATH = "/etc/ssl/rds/global-bundle.pem"
START_TIMEOUT_SECONDS = 30.0
# ECS sends SIGKILL 30 s after SIGTERM; the service needs its 1 s drain and little more.
STOP_BUDGET_SECONDS = 10.0
FORBIDDEN_NAMES = (".git", ".venv")
# The local mode's .eml files, on the container's one writable path.
MAIL_DIR = "/tmp/outbox-mail"  # noqa: S108 (inside the container: its tmpfs)


def ok(what: str) -> None:
    """Print one check that held."""
    print(f"  ok  {what}", flush=True)


class ThrowAwayDatabase:
    """A database of its own on the local server, dropped on exit."""

    def __init__(self, name: str) -> None:
        url = urlsplit(os.environ.get("TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306"))
        self.name = name
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port or 3306
        self._user = unquote(url.username or "root")
        self._password = unquote(url.password or "")
        self.env = {
            "DB_HOST": self._host,
            "DB_PORT": str(self._port),
            "DB_USER": self._user,
            "DB_PASSWORD": self._password,
            "DB_NAME": name,
        }

    def query(self, sql: str, *args: str, in_database: bool = True) -> Any:
        """The first column of the first row of `sql`, or None."""
        try:
            connection = pymysql.connect(
                host=self._host,
                port=self._port,
                user=self._user,
                password=self._password,
                database=self.name if in_database else None,
                connect_timeout=5,
                autocommit=True,
            )
            with connection, connection.cursor() as cursor:
                cursor.execute(sql, args)
                row = cursor.fetchone()
        except pymysql.MySQLError as exc:
            raise ImageCheckError(f"database: {sql}: {exc}") from exc
        return row[0] if row else None

    def __enter__(self) -> ThrowAwayDatabase:
        self.query(f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4", in_database=False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.query(f"DROP DATABASE IF EXISTS `{self.name}`", in_database=False)


def free_loopback_port() -> int:
    """A port nothing listens on now (the OS's choice, so never a busy 3000)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def check_image_files(podman: Podman, image: str, tests: Path, bundle: bytes) -> None:
    """Nothing from tests/, .git or .venv in the image; the CA bundle as pinned, read-only."""
    test_files = {
        hashlib.sha256(path.read_bytes()).hexdigest(): path
        for path in tests.rglob("*")
        if path.is_file() and path.stat().st_size and "__pycache__" not in path.parts
    }
    test_names = {path.name for path in test_files.values()}
    root = Path(podman.run("image", "mount", image).strip())
    try:
        found = [
            f"/app/{name}" for name in ("tests", *FORBIDDEN_NAMES) if (root / "app" / name).exists()
        ]
        files = 0
        for directory, dirnames, filenames in os.walk(root):
            files += len(filenames)
            here = Path(directory)
            found += [f"/{(here / d).relative_to(root)}" for d in dirnames if d in FORBIDDEN_NAMES]
            for name in set(filenames) & test_names:
                path = here / name
                if path.is_file() and not path.is_symlink():
                    copied = test_files.get(hashlib.sha256(path.read_bytes()).hexdigest())
                    if copied is not None:
                        found.append(f"/{path.relative_to(root)} (= {copied})")
        if found:
            raise ImageCheckError(f"the image holds what it must not: {', '.join(found)}")
        ok(f"no tests/, .git or .venv among the image's {files} files")
        installed = root / RDS_CA_PATH.lstrip("/")
        if not installed.is_file() or installed.read_bytes() != bundle:
            raise ImageCheckError(f"{RDS_CA_PATH} in the image is not the bundle served")
        if installed.stat().st_mode & 0o777 != 0o444:
            raise ImageCheckError(f"{RDS_CA_PATH} is mode {installed.stat().st_mode:o}, not 0444")
        ok(f"{RDS_CA_PATH}: the downloaded bundle, checksum verified, read-only")
    finally:
        podman.run("image", "unmount", image)


def http(method: str, port: int, path: str, body: dict[str, str] | None = None) -> tuple[int, Any]:
    """One request to the service on loopback: status and decoded JSON body."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _logs(podman: Podman, container: str, tail: int = 3000) -> str:
    result = podman.call(["logs", container])
    return (result.stdout + result.stderr)[-tail:]


def wait_until_serving(podman: Podman, container: str, port: int) -> None:
    """Wait for /health to answer; fail with the container's log if it stops or never does."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            if http("GET", port, "/health")[0] == 200:
                return
        except OSError:
            pass  # not listening yet
        state = podman.run("inspect", "--format", "{{.State.Status}}", container).strip()
        if state != "running":
            raise ImageCheckError(f"the container is {state}:\n{_logs(podman, container)}")
        if time.monotonic() > deadline:
            raise ImageCheckError(
                f"/health did not answer within {START_TIMEOUT_SECONDS:.0f} s:\n"
                f"{_logs(podman, container)}"
            )
        time.sleep(0.1)


def _expect(what: str, status: int, body: Any, want_status: int, want: dict[str, Any]) -> None:
    if status != want_status or not isinstance(body, dict) or want.items() - body.items():
        raise ImageCheckError(f"{what}: {status} {body}, expected {want_status} with {want}")
    ok(f"{what}: {status} {json.dumps(body)[:80]}")


def check_running_service(
    podman: Podman, container: str, port: int, database: ThrowAwayDatabase, bundle: bytes
) -> None:
    """The answers, the stored row, the process's uid and PID, HEALTHCHECK, the CA bundle."""
    _expect("GET /health", *http("GET", port, "/health"), 200, {"status": "OK"})
    _expect("GET /health/ready", *http("GET", port, "/health/ready"), 200, {"database": "up"})
    email = f"image-check-{port}@example.com"
    applicant = {"name": "Image Check", "email": email, "phone": "555 123 4567"}
    status, body = http("POST", port, "/api/register", {**applicant, "program": "arts"})
    _expect("POST /api/register", status, body, 201, {"email": email, "phone": "5551234567"})
    rows = database.query("SELECT COUNT(*) FROM users WHERE email = %s", email)
    if rows != 1:
        raise ImageCheckError(f"the registration answered 201 but {rows} rows hold its email")
    ok("the registration is the one row in the throw-away database")

    pid = podman.run("inspect", "--format", "{{.State.Pid}}", container).strip()
    status_lines = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    uids = status_lines["Uid"].split()
    namespace_pid = status_lines["NSpid"].split()[-1]
    command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    if "0" in uids:
        raise ImageCheckError(f"the service runs as uid {uids} (real, effective, saved, fs)")
    if namespace_pid != "1" or command != "python index.py":
        raise ImageCheckError(f"PID 1 of the container is not `python index.py`: {command!r}")
    ok(f"`{command}` is the container's PID 1 (SIGTERM reaches it) as uid {uids[0]}")

    health = podman.call(["healthcheck", "run", container])
    if health.returncode != 0:
        raise ImageCheckError(f"the image's HEALTHCHECK fails: {health.stdout}{health.stderr}")
    ok("the image's HEALTHCHECK passes")
    count_certs = (
        f"import ssl; print(len(ssl.create_default_context(cafile='{RDS_CA_PATH}').get_ca_certs()))"
    )
    loaded = podman.run("exec", container, "python", "-c", count_certs).strip()
    if loaded != str(bundle.count(b"BEGIN CERTIFICATE")):
        raise ImageCheckError(f"the service's user loads {loaded} CAs from {RDS_CA_PATH}")
    ok(f"the service's user loads the {loaded} CAs of {RDS_CA_PATH} with ssl")
    check_read_only(podman, container)


def check_read_only(podman: Podman, container: str) -> None:
    """The root filesystem refuses a write; the email went to the tmpfs; EMF lines on stdout."""
    write = podman.call(["exec", container, "python", "-c", "open('/app/probe', 'w')"])
    if write.returncode == 0 or "Read-only file system" not in write.stderr:
        raise ImageCheckError(f"the root filesystem took a write: {write.stderr[-500:]}")
    ok("the root filesystem is read-only (a write to /app is refused)")
    deadline = time.monotonic() + 10
    listing = ""
    while time.monotonic() < deadline and ".eml" not in listing:
        time.sleep(0.2)
        listing = podman.call(["exec", container, "ls", MAIL_DIR]).stdout
    if ".eml" not in listing:
        raise ImageCheckError(f"no confirmation email in {MAIL_DIR} on the tmpfs: {listing!r}")
    ok(f"the confirmation email was written to {MAIL_DIR} (the tmpfs /tmp)")
    counted = '"RegistrationsStored":1'
    while time.monotonic() < deadline and counted not in _logs(podman, container, tail=10**7):
        time.sleep(0.2)
    log = _logs(podman, container, tail=10**7).splitlines()
    emf = [line for line in log if '"CloudWatchMetrics"' in line]
    if not any(counted in line for line in emf):
        raise ImageCheckError(f"no EMF line counting the registration: {emf[-3:]}")
    ok("an EMF metrics line on stdout counts the registration")


def stop_with_sigterm(podman: Podman, container: str) -> None:
    """SIGTERM, as ECS stops a task: exit status 0 within STOP_BUDGET_SECONDS."""
    started = time.monotonic()
    podman.run("kill", "--signal=TERM", container)
    status = podman.run("wait", container, timeout=35).strip()
    seconds = time.monotonic() - started
    if status != "0" or seconds > STOP_BUDGET_SECONDS:
        raise ImageCheckError(
            f"SIGTERM: exit status {status} after {seconds:.1f} s (need 0 within "
            f"{STOP_BUDGET_SECONDS:.0f} s; ECS kills at 30 s):\n{_logs(podman, container)}"
        )
    log = _logs(podman, container, tail=10**7)
    if "Traceback" in log:
        raise ImageCheckError(f"the service logged a traceback:\n{log}")
    ok(f"SIGTERM: exit status 0 after {seconds:.1f} s (ECS sends SIGKILL at 30 s)")
