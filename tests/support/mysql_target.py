"""Which MySQL-compatible server the tests talk to, and throw-away databases on it.

In order: testcontainers' MySQL when a Docker engine answers; else the server in
TEST_MYSQL_URL (mysql://user:password@host:port); else the local MariaDB on
127.0.0.1:3306 as root with an empty password. If none answers, the tests fail:
they are never skipped.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import pymysql

URL_VARIABLE = "TEST_MYSQL_URL"


@dataclass(frozen=True)
class MySQLTarget:
    """A server the tests may create databases and users on."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    origin: str

    def environment(self, database: str) -> dict[str, str]:
        """The DB_* variables that point `python index.py` at `database` on this server."""
        return {
            "DB_HOST": self.host,
            "DB_PORT": str(self.port),
            "DB_USER": self.user,
            "DB_PASSWORD": self.password,
            "DB_NAME": database,
        }

    def connect(self, database: str | None = None, **options: Any) -> pymysql.Connection[Any]:
        """A PyMySQL connection as the administrative user, autocommitting."""
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            autocommit=True,
            charset="utf8mb4",
            connect_timeout=5,
            **options,
        )

    def execute(
        self, sql: str, args: tuple[Any, ...] = (), database: str | None = None
    ) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows."""
        with contextlib.closing(self.connect(database)) as conn, conn.cursor() as cursor:
            cursor.execute(sql, args or None)
            return list(cursor.fetchall())

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database: `name`, else a unique name."""
        name = name or f"schoolapp_test_{uuid.uuid4().hex[:12]}"
        self.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database made by `create_database`."""
        self.execute(f"DROP DATABASE IF EXISTS `{name}`")

    def create_user(self, database: str) -> tuple[str, str]:
        """A new user with a random password and every right on `database`."""
        user, password = f"app_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
        self.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
        self.execute(f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'%'")
        return user, password

    def drop_user(self, user: str) -> None:
        """Drop a user made by `create_user`."""
        self.execute(f"DROP USER IF EXISTS '{user}'@'%'")


def _docker_answers() -> bool:
    try:
        import docker  # noqa: PLC0415

        client = docker.from_env(timeout=3)
        client.ping()
    except Exception:  # any failure means: no engine to use
        return False
    return True


@contextlib.contextmanager
def mysql_target() -> Iterator[MySQLTarget]:
    """Start or find the server, check it answers, and yield it."""
    if _docker_answers():
        from testcontainers.mysql import MySqlContainer  # noqa: PLC0415

        with MySqlContainer("mysql:8.0", username="root", password="test") as container:
            target = MySQLTarget(
                host=container.get_container_host_ip(),
                port=int(container.get_exposed_port(3306)),
                user="root",
                password="test",
                origin="testcontainers mysql:8.0",
            )
            _check(target)
            yield target
        return
    url = os.environ.get(URL_VARIABLE)
    if url:
        parts = urlsplit(url)
        target = MySQLTarget(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            origin=f"{URL_VARIABLE}",
        )
    else:
        target = MySQLTarget("127.0.0.1", 3306, "root", "", origin="local MariaDB")
    _check(target)
    yield target


def _check(target: MySQLTarget) -> None:
    try:
        target.execute("SELECT 1")
    except pymysql.err.MySQLError as exc:
        raise RuntimeError(
            f"no MySQL server for the integration tests ({target.origin} at "
            f"{target.host}:{target.port}): {exc}. Start one (the local MariaDB: "
            "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd) "
            f"or set {URL_VARIABLE}."
        ) from exc
