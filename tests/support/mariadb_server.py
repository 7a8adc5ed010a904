"""A private, throw-away MariaDB server that a test may stop, kill and restart.

It runs the system's mariadbd on a port of its own on 127.0.0.1 with its own data
directory under a directory the caller gives (e.g. from ``tmp_path_factory``), reads
no option file, and lets root in over TCP with an empty password. The system server
on port 3306 is never touched. Given TLS files, it serves TLS and refuses plain-text
clients (``require_secure_transport``, as the RDS parameter group sets it); without
them it offers no TLS at all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pymysql

from tests.support.ports import LOOPBACK, free_port

_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"])
# Small InnoDB files and no buffer pool dump/load: a test server holds little data,
# and these make install, start and shutdown take a fraction of the defaults' time.
_INNODB_OPTIONS = (
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=8M",
    "--innodb-buffer-pool-dump-at-shutdown=0",
    "--innodb-buffer-pool-load-at-startup=0",
)
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes; keep a margin
_PORT_IN_USE = "Address already in use"


@dataclass(frozen=True)
class ServerTls:
    """PEM files for the server: the CA it trusts, its certificate and its key."""

    ca: Path
    cert: Path
    key: Path

    def options(self) -> list[str]:
        """mariadbd's options to serve TLS with these files and nothing but TLS."""
        return [
            f"--ssl-ca={self.ca}",
            f"--ssl-cert={self.cert}",
            f"--ssl-key={self.key}",
            "--require-secure-transport=ON",
        ]

    def client_context(self) -> ssl.SSLContext:
        """For the tests' own root connections: the CA is checked, the name is not."""
        context = ssl.create_default_context(cafile=self.ca)
        context.check_hostname = False
        return context


class _PortInUseError(RuntimeError):
    """mariadbd could not bind its port."""


def _binary(name: str) -> str:
    path = shutil.which(name, path=_SEARCH_PATH)
    if path is None:
        raise FileNotFoundError(f"{name} not found (apt-get install mariadb-server)")
    return path


def _tail(path: Path, start: int = 0, lines: int = 30) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    with path.open("rb") as file:
        file.seek(start)
        text = file.read().decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """Last resort, on garbage collection or at exit: leave no mariadbd behind a test run."""
    if process.poll() is None:
        process.kill()
        process.wait()


class MariaDBServer:
    """A mariadbd of the test's own on ``127.0.0.1:port``, data under ``base_dir``.

    The first ``start()`` creates the data directory; later starts reuse it, on the
    same port, so data survives a restart. As a context manager it starts on enter
    and stops on exit; it never deletes ``base_dir``.
    """

    def __init__(
        self, base_dir: Path, port: int | None = None, tls: ServerTls | None = None
    ) -> None:
        self._base_dir = base_dir
        self._tls = tls
        self._requested_port = port
        self._port = port or 0
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._socket_dir: Path | None = None  # a short directory of ours, when needed

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return LOOPBACK

    @property
    def port(self) -> int:
        """The server's TCP port (0 before the first ``start()`` when none was given)."""
        return self._port

    @property
    def datadir(self) -> Path:
        """The server's data directory."""
        return self._base_dir / "data"

    @property
    def error_log(self) -> Path:
        """The server's error log, appended to by every start."""
        return self._base_dir / "mariadbd.err"

    @property
    def is_running(self) -> bool:
        """Whether the mariadbd process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (installing it first if new); wait until ``SELECT 1`` works.

        A no-op when it is running already. Raises RuntimeError, with the end of the
        error log, if the server does not come up within ``timeout`` seconds.
        """
        if self.is_running:
            return
        self._base_dir.mkdir(parents=True, exist_ok=True)
        if not (self.datadir / "mysql").is_dir():
            self._install()
        if self._port:
            self._launch(timeout)
            return
        for attempt in range(5):
            self._port = free_port()
            try:
                self._launch(timeout)
            except _PortInUseError:
                if attempt == 4:
                    raise
                continue  # another process took the port between probe and bind
            return

    def stop(self, timeout: float = 30.0) -> None:
        """Shut down gracefully (SIGTERM) and wait for the process to exit.

        If it is still running after ``timeout`` seconds it is killed and
        RuntimeError is raised.
        """
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(
                f"mariadbd did not shut down within {timeout}s; killed it.\n{_tail(self.error_log)}"
            ) from None
        self._forget_process()

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a crash would; the next start recovers."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.kill()
        process.wait()
        self._forget_process()

    def restart(self, timeout: float = 30.0) -> None:
        """Stop gracefully, then start again on the same port with the same data."""
        self.stop(timeout)
        self.start(timeout)

    def execute(
        self, sql: str, *args: object, database: str | None = None
    ) -> list[tuple[Any, ...]]:
        """Run one statement as root over TCP and return its rows (none: ``[]``)."""
        with (
            contextlib.closing(self._connect(database, connect_timeout=5)) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute(sql, args or None)
            return list(cursor.fetchall())

    def close(self) -> None:
        """Stop the server and remove the socket directory it made, if any."""
        try:
            self.stop()
        finally:
            if self._socket_dir is not None:
                shutil.rmtree(self._socket_dir)
                self._socket_dir = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MariaDBServer({self.host}:{self._port}, datadir={self.datadir})"

    def _connect(self, database: str | None = None, **options: Any) -> pymysql.Connection[Any]:
        if self._tls is not None:
            options["ssl"] = self._tls.client_context()
        return pymysql.connect(
            host=LOOPBACK,
            port=self._port,
            user="root",
            password="",
            database=database,
            autocommit=True,
            **options,
        )

    def _tls_options(self) -> list[str]:
        # --skip-ssl: newer servers (11.4+) would otherwise make a certificate of their own.
        return self._tls.options() if self._tls is not None else ["--skip-ssl"]

    def _user_options(self) -> list[str]:
        # mariadbd refuses to run as root unless told to; as anyone else --user is moot.
        return ["--user=root"] if os.geteuid() == 0 else []

    def _socket_path(self) -> Path:
        path = self._base_dir / "mariadbd.sock"
        if len(os.fsencode(path)) <= _SOCKET_PATH_MAX:
            return path
        if self._socket_dir is None:
            self._socket_dir = Path(tempfile.mkdtemp(prefix="mariadbd-"))
        return self._socket_dir / "mariadbd.sock"

    def _install(self) -> None:
        log = self._base_dir / "install.log"
        command = [
            _binary("mariadb-install-db"),
            "--no-defaults",  # must come first
            f"--datadir={self.datadir}",
            "--auth-root-authentication-method=normal",  # root@127.0.0.1, no password
            "--skip-test-db",
            *self._user_options(),
            *_INNODB_OPTIONS,
        ]
        with log.open("wb") as output:
            result = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"mariadb-install-db failed with exit code {result.returncode}:\n{_tail(log)}"
            )

    def _launch(self, timeout: float) -> None:
        log_start = self.error_log.stat().st_size if self.error_log.exists() else 0
        command = [
            _binary("mariadbd"),
            "--no-defaults",  # must come first: /etc/mysql belongs to the system server
            f"--datadir={self.datadir}",
            f"--port={self._port}",
            f"--bind-address={LOOPBACK}",
            f"--socket={self._socket_path()}",
            f"--pid-file={self._base_dir / 'mariadbd.pid'}",
            f"--log-error={self.error_log}",
            "--skip-name-resolve",
            *self._tls_options(),
            *self._user_options(),
            *_INNODB_OPTIONS,
        ]
        with (self._base_dir / "mariadbd.out").open("ab") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        self._process = process
        self._finalizer = weakref.finalize(self, _terminate, process)
        try:
            self._wait_until_ready(process, timeout, log_start)
        except BaseException:
            self.kill()
            raise

    def _wait_until_ready(
        self, process: subprocess.Popen[bytes], timeout: float, log_start: int
    ) -> None:
        deadline = time.monotonic() + timeout
        last_error: pymysql.OperationalError | None = None
        while process.poll() is None:
            try:
                pid_file = self._pid_file_of_server()
            except pymysql.OperationalError as error:
                pid_file, last_error = None, error  # most likely not listening yet
            if pid_file == self._base_dir / "mariadbd.pid":
                return
            if pid_file is not None:
                raise _PortInUseError(f"port {self._port} is served by another server")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"mariadbd on port {self._port} not ready after {timeout}s "
                    f"(last connection error: {last_error}):\n"
                    f"{_tail(self.error_log, log_start)}"
                )
            time.sleep(0.05)
        log_tail = _tail(self.error_log, log_start)
        error_type = _PortInUseError if _PORT_IN_USE in log_tail else RuntimeError
        raise error_type(
            f"mariadbd on port {self._port} exited with code {process.returncode}:\n{log_tail}"
        )

    def _pid_file_of_server(self) -> Path:
        """Which server answers on our port: a leftover one could hold it too."""
        with contextlib.closing(self._connect(connect_timeout=1, read_timeout=1)) as conn:
            cursor = conn.cursor()
            cursor.execute("SELECT @@pid_file")
            row = cursor.fetchone()
        return Path(row[0] if row else "")

    def _forget_process(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
