"""Which MySQL-compatible server the tests talk to, and throw-away databases on it.

In order: testcontainers' MySQL when a Docker engine answers (the image in
TEST_MYSQL_IMAGE, default mysql:8.0); else the server in TEST_MYSQL_URL
(mysql://user:password@host:port); else the local MariaDB on 127.0.0.1:3306 as
root with an empty password. If none answers, the tests fail: they are never
skipped. The engine may be podman's Docker API (`podman system service`, as
.ci/testcontainers runs it with deploy/mariadb_test_image.py's image).
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
IMAGE_VARIABLE = "TEST_MYSQL_IMAGE"
DEFAULT_IMAGE = "mysql:8.0"
CONTAINER_PASSWORD = "test"


@dataclass(frozen=True)
class MySQLTarget:
    """A server the tests may create databases and users on."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    origin: str
    container: str = ""

    def describe(self) -> str:
        """Which server this is, for the test run's report."""
        where = f"{self.origin} at {self.host}:{self.port}"
        return f"{where} (container {self.container[:12]})" if self.container else where

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


def _docker_engine() -> str | None:
    """The engine, podman or docker, when a Docker API answers (DOCKER_HOST or its default)."""
    try:
        import docker  # noqa: PLC0415

        with contextlib.closing(docker.from_env(timeout=3)) as client:
            components = client.version().get("Components") or []
    except Exception:  # any failure means: no engine to use
        return None
    names = " ".join(str(component.get("Name", "")) for component in components)
    return "podman" if "podman" in names.lower() else "docker"


@contextlib.contextmanager
def _container_target(engine: str) -> Iterator[MySQLTarget]:
    """testcontainers' MySqlContainer on `engine`, removed on exit."""
    from testcontainers.community.mysql import MySqlContainer  # noqa: PLC0415
    from testcontainers.core.config import (  # noqa: PLC0415
        ConnectionMode,
        testcontainers_config,
    )

    image = os.environ.get(IMAGE_VARIABLE) or DEFAULT_IMAGE
    mysql = MySqlContainer(image, username="root", password=CONTAINER_PASSWORD)
    if engine == "podman":
        # Its bridge needs iptables, which these machines lack; its API ignores
        # containers.conf's netns, so the container asks for slirp4netns itself.
        mysql.with_kwargs(network_mode="slirp4netns")
        # /.dockerenv would send testcontainers to a gateway address; podman
        # publishes on this host, so its loopback. A variable a user set wins.
        if testcontainers_config.connection_mode_override is None:
            testcontainers_config.connection_mode_override = ConnectionMode.docker_host
        if not testcontainers_config.tc_host_override:
            testcontainers_config.tc_host_override = "127.0.0.1"
        # No registry here for Ryuk's image; the `with` below removes the container.
        if "TESTCONTAINERS_RYUK_DISABLED" not in os.environ:
            testcontainers_config.ryuk_disabled = True
    with mysql as container:
        target = MySQLTarget(
            host=container.get_container_host_ip(),
            port=int(container.get_exposed_port(3306)),
            user="root",
            password=CONTAINER_PASSWORD,
            origin=f"testcontainers {image} on {engine}",
            container=container.get_wrapped_container().id,
        )
        _check(target)
        yield target


@contextlib.contextmanager
def mysql_target() -> Iterator[MySQLTarget]:
    """Start or find the server, check it answers, and yield it."""
    engine = _docker_engine()
    if engine is not None:
        with _container_target(engine) as target:
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
