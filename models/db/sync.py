"""A blocking SQLAlchemy connection, for work that is not on the request path.

Migrations (Alembic) need a synchronous SQLAlchemy connection. It is opened
from the same credentials as the aiomysql pool, with the same options, and
closed after each use: there is no second pool. SQLAlchemy is imported here
only when such a connection is asked for, so a serving process that never
migrates never loads it (its RSS with Alembic: docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pymysql

from config.credentials import Credentials
from config.settings import Settings
from models.db.driver_errors import map_driver_errors
from models.db.tls import client_context

if TYPE_CHECKING:
    import sqlalchemy


def pymysql_connect_args(
    credentials: Credentials, settings: Settings, read_timeout: float
) -> dict[str, Any]:
    """PyMySQL's connect arguments, matching the pool's (UTC, utf8mb4, timeout, TLS)."""
    return {
        "host": credentials.host,
        "port": credentials.port,
        "user": credentials.user,
        "password": credentials.password,
        "database": credentials.database,
        "charset": "utf8mb4",
        "connect_timeout": settings.db_connect_timeout,
        # The same TLS as the pool; PyMySQL refuses a server that offers none.
        "ssl": client_context(settings.db_ssl_mode, settings.db_ssl_ca),
        "read_timeout": read_timeout,
        "write_timeout": read_timeout,
        "init_command": "SET time_zone = '+00:00'",
    }


@contextmanager
def plain_connection(
    credentials: Credentials, settings: Settings, read_timeout: float
) -> Iterator[pymysql.Connection[Any]]:
    """One autocommitting PyMySQL connection, closed when the block ends (an administrator's)."""
    with map_driver_errors():
        conn = pymysql.connect(
            **pymysql_connect_args(credentials, settings, read_timeout), autocommit=True
        )
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def sync_connection(
    credentials: Credentials, settings: Settings, read_timeout: float
) -> Iterator[sqlalchemy.Connection]:
    """One SQLAlchemy connection (no pool), closed when the block ends.

    `read_timeout` bounds each wait on the server; work such as a migration may
    legitimately wait longer than a request's DB_QUERY_TIMEOUT.
    """
    import sqlalchemy  # noqa: PLC0415 (see the module's docstring)
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    args = pymysql_connect_args(credentials, settings, read_timeout)
    # `creator` passes the arguments as they are: no URL to escape a password into.
    engine = sqlalchemy.create_engine(
        "mysql+pymysql://", creator=lambda: pymysql.connect(**args), poolclass=NullPool
    )
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()
