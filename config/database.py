"""The one aiomysql pool of the process: its life, its timeouts and its failures.

Every way the database can fail ends here as a `DatabaseUnavailable` raised within
a bounded time: a refused or black-holed connection, a dead pooled connection, a
query that does not answer. aiomysql has no read timeout of its own, so every
wait on the server is bounded with asyncio.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import Any

import aiomysql
import pymysql
from aiomysql import Connection

from config.credentials import Credentials, CredentialsSource
from config.errors import ConfigError, CredentialsRejected, DatabaseUnavailable
from config.settings import Settings

logger = logging.getLogger("schoolapp.database")

Setup = Callable[[Connection], Awaitable[None]]
CreateDatabase = Callable[[Connection, str], Awaitable[None]]

ACCESS_DENIED = 1045
UNKNOWN_DATABASE = 1049
# Server errors that mean the connection itself is gone: shutdown in progress,
# connection killed (MariaDB), disconnected for inactivity (MySQL 8). Client-side
# errors (2000-2999: cannot connect, server gone away, lost connection) count too.
_SERVER_CONNECTION_ERRORS = frozenset({1053, 1927, 4031})
# Anything else that means the socket failed, not the statement.
_TRANSPORT_ERRORS = (pymysql.err.InterfaceError, OSError, TimeoutError, RuntimeError)


def _connection_failed(exc: BaseException) -> bool:
    """True when `exc` says the connection broke, not that the statement was refused."""
    if isinstance(exc, pymysql.err.OperationalError):
        code = _error_code(exc)
        return code is None or 2000 <= code < 3000 or code in _SERVER_CONNECTION_ERRORS
    return isinstance(exc, _TRANSPORT_ERRORS)


# True inside a Budget: statements then share its timer instead of setting their own.
_in_budget: ContextVar[bool] = ContextVar("in_budget", default=False)


class Budget:
    """A deadline for one database operation, retries included.

    When it passes, the operation is cancelled and DatabaseUnavailable raised. One
    asyncio timer costs about 6 µs, so statements inside a budget set none of their own.
    """

    __slots__ = ("_seconds", "_timeout", "_token")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    async def __aenter__(self) -> None:
        self._token = _in_budget.set(True)
        self._timeout = asyncio.timeout(self._seconds)
        await self._timeout.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _in_budget.reset(self._token)
        try:
            await self._timeout.__aexit__(exc_type, exc, traceback)
        except TimeoutError:
            raise DatabaseUnavailable("the database did not answer in time") from None


class ConnectionLost(DatabaseUnavailable):
    """The connection failed during a statement: it may or may not have run."""


class UnknownDatabase(DatabaseUnavailable):
    """The server has no database of that name (local mode then creates it)."""


def _cannot_connect(exc: BaseException) -> DatabaseUnavailable:
    code = _error_code(exc)
    if code == ACCESS_DENIED:
        return CredentialsRejected(str(exc))
    if code == UNKNOWN_DATABASE:
        return UnknownDatabase(str(exc))
    return DatabaseUnavailable(f"cannot connect: {exc!r}")


def _error_code(exc: BaseException) -> int | None:
    if isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int):
        return exc.args[0]
    return None


class Database:
    """Owns the pool: opens it lazily, bounds every wait, rebuilds it after failures.

    `create_tables` runs once, on the first connection that succeeds, so a
    database that is down at start-up is set up when it comes back;
    `create_database` (local mode only) runs first if the database is missing.
    """

    def __init__(
        self,
        settings: Settings,
        credentials: CredentialsSource,
        *,
        create_tables: Setup | None = None,
        create_database: CreateDatabase | None = None,
    ) -> None:
        self._settings = settings
        self._credentials = credentials
        self._create_tables = create_tables
        self._create_database = create_database
        self._connect_timeout = settings.db_connect_timeout
        self._query_timeout = settings.db_query_timeout
        self._pool: aiomysql.Pool | None = None
        self._ready = False
        self._setup_lock = asyncio.Lock()
        self._reload_lock = asyncio.Lock()
        self._closing_pools: set[asyncio.Task[None]] = set()

    @property
    def operation_timeout(self) -> float:
        """The longest one operation may wait: a connection, then a statement."""
        return self._connect_timeout + self._query_timeout

    async def start(self) -> None:
        """Open the pool and set up the schema; a database that is down is only logged."""
        try:
            async with self.connection():
                pass
        except DatabaseUnavailable as exc:
            logger.warning("database unavailable at start-up, will retry: %s", exc)

    async def close(self) -> None:
        """Close the pool, letting connections in use finish within `operation_timeout`."""
        pool, self._pool = self._pool, None
        if pool is not None:
            self._closing_pools.add(asyncio.ensure_future(self._close_pool(pool)))
        if self._closing_pools:
            await asyncio.gather(*self._closing_pools)

    def budget(self) -> Budget:
        """Bound a whole operation, retries included, by `operation_timeout`."""
        return Budget(self.operation_timeout)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection; closed instead of reused when the block fails oddly."""
        pool, conn = await self._acquire()
        try:
            yield conn
        except (pymysql.err.MySQLError, DatabaseUnavailable):
            raise  # a server-side error (a duplicate key, say) leaves the connection usable
        except BaseException:
            conn.close()  # cancelled or failed mid-statement: the protocol state is unknown
            raise
        finally:
            pool.release(conn)

    async def execute(self, sql: str, args: Sequence[object] = ()) -> int:
        """Run one statement and return the affected row count."""
        cursor = await self._statement(sql, args)
        return int(cursor.rowcount)

    async def fetch_one(self, sql: str, args: Sequence[object] = ()) -> tuple[Any, ...] | None:
        """Run one query and return its first row, or None."""
        cursor = await self._statement(sql, args)
        row = await cursor.fetchone()
        return tuple(row) if row is not None else None

    async def fetch_all(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run one query and return all its rows."""
        cursor = await self._statement(sql, args)
        return [tuple(row) for row in await cursor.fetchall()]

    async def ping(self, within: float) -> bool:
        """True when the server answers a ping within `within` seconds."""
        try:
            async with asyncio.timeout(within), self.connection() as conn:
                await conn.ping(reconnect=False)
        except (
            DatabaseUnavailable,
            TimeoutError,
            pymysql.err.MySQLError,
            *_TRANSPORT_ERRORS,
        ) as exc:
            logger.info("database ping failed: %r", exc)
            return False
        return True

    async def _statement(self, sql: str, args: Sequence[object]) -> aiomysql.Cursor:
        # The hot path of every registration, so no context manager of its own: one
        # timer (the budget) bounds it, a free pooled connection is taken at once.
        if not _in_budget.get():
            async with self.budget():
                return await self._statement(sql, args)
        pool, conn = await self._acquire()
        try:
            cursor = await conn.cursor()
            await cursor.execute(sql, tuple(args))
        except (pymysql.err.OperationalError, *_TRANSPORT_ERRORS) as exc:
            if not _connection_failed(exc):
                raise  # the server refused the statement; the connection is fine
            conn.close()
            self._discard(pool)
            raise ConnectionLost(f"connection lost during a statement: {exc!r}") from exc
        except pymysql.err.MySQLError:
            raise  # a duplicate key, say: the connection is fine
        except BaseException:
            # Cancelled mid-statement (the budget ran out): the protocol state is
            # unknown, and a server that does not answer one connection will not
            # answer its siblings either.
            conn.close()
            self._discard(pool)
            raise
        finally:
            pool.release(conn)
        return cursor

    async def _acquire(self) -> tuple[aiomysql.Pool, Connection]:
        pool = self._pool
        if self._ready and pool is not None and (pool.freesize or pool.size >= pool.maxsize):
            # A free connection is there, or a full pool will hand one back: no new
            # connection to open, so no connect timer (callers bound the wait).
            return await self._acquire_with_current_credentials()
        try:
            async with asyncio.timeout(self._connect_timeout):
                if not self._ready:
                    await self._set_up()
                return await self._acquire_with_current_credentials()
        except TimeoutError:
            raise DatabaseUnavailable("no database connection within the connect timeout") from None

    async def _acquire_with_current_credentials(self) -> tuple[aiomysql.Pool, Connection]:
        try:
            return await self._acquire_from_pool()
        except CredentialsRejected:
            # The password may have been rotated: read it again, retry once.
            await self._reload_credentials()
            return await self._acquire_from_pool()

    async def _acquire_from_pool(self) -> tuple[aiomysql.Pool, Connection]:
        pool = self._current_pool()
        try:
            conn = await pool.acquire()
        except (pymysql.err.MySQLError, *_TRANSPORT_ERRORS) as exc:
            raise _cannot_connect(exc) from exc
        return pool, conn

    async def _set_up(self) -> None:
        async with self._setup_lock:
            if self._ready:
                return
            # Reading AWS credentials is blocking I/O (once; then they are cached).
            credentials = await asyncio.to_thread(self._credentials.current)
            try:
                pool, conn = await self._acquire_with_current_credentials()
            except UnknownDatabase:
                if self._create_database is None:
                    raise
                await self._run_create_database(credentials)
                pool, conn = await self._acquire_with_current_credentials()
            try:
                if self._create_tables is not None:
                    await self._create_tables(conn)
            except (pymysql.err.MySQLError, *_TRANSPORT_ERRORS) as exc:
                conn.close()
                raise DatabaseUnavailable(f"cannot set up the schema: {exc!r}") from exc
            finally:
                pool.release(conn)
            self._ready = True

    async def _run_create_database(self, credentials: Credentials) -> None:
        assert self._create_database is not None
        try:
            conn = await aiomysql.connect(**self._connect_args(credentials, database=None))
        except (pymysql.err.MySQLError, *_TRANSPORT_ERRORS) as exc:
            raise _cannot_connect(exc) from exc
        try:
            await self._create_database(conn, credentials.database)
        except (pymysql.err.MySQLError, *_TRANSPORT_ERRORS) as exc:
            raise DatabaseUnavailable(f"cannot create the database: {exc!r}") from exc
        finally:
            conn.close()

    def _current_pool(self) -> aiomysql.Pool:
        if self._pool is None:
            self._pool = self._new_pool(self._credentials.current())
        return self._pool

    def _new_pool(self, credentials: Credentials) -> aiomysql.Pool:
        # Built without connecting, so that building never waits or fails; the
        # first acquire opens connections, never more than maxsize of them.
        return aiomysql.Pool(
            minsize=self._settings.db_pool_min,
            maxsize=self._settings.db_pool_max,
            echo=False,
            pool_recycle=self._settings.db_pool_recycle,
            loop=asyncio.get_running_loop(),
            **self._connect_args(credentials, database=credentials.database),
        )

    def _connect_args(self, credentials: Credentials, database: str | None) -> dict[str, Any]:
        return {
            "host": credentials.host,
            "port": credentials.port,
            "user": credentials.user,
            "password": credentials.password,
            "db": database,
            "charset": "utf8mb4",
            "autocommit": True,
            "connect_timeout": self._connect_timeout,
            # TIMESTAMP values are read and written in UTC whatever the server's zone.
            "init_command": "SET time_zone = '+00:00'",
        }

    async def _reload_credentials(self) -> None:
        rejected = self._pool
        async with self._reload_lock:
            if self._pool is not rejected:
                return  # another request already reloaded them
            logger.warning("database refused the credentials; reading them again")
            try:
                credentials = await asyncio.to_thread(self._credentials.refresh)
            except ConfigError as exc:
                logger.error("cannot re-read the database credentials: %s", exc)  # noqa: TRY400
                raise DatabaseUnavailable("database credentials unavailable") from exc
            self._pool = self._new_pool(credentials)
            if rejected is not None:
                self._close_in_background(rejected)

    def _discard(self, pool: aiomysql.Pool) -> None:
        # A lost connection means its siblings are probably dead too (a restart,
        # a failover): start afresh rather than let each request find one.
        if self._pool is pool:
            self._pool = None
            self._close_in_background(pool)

    def _close_in_background(self, pool: aiomysql.Pool) -> None:
        task = asyncio.ensure_future(self._close_pool(pool))
        self._closing_pools.add(task)
        task.add_done_callback(self._closing_pools.discard)

    async def _close_pool(self, pool: aiomysql.Pool) -> None:
        pool.close()
        try:
            async with asyncio.timeout(self.operation_timeout):
                await pool.wait_closed()
        except TimeoutError:
            pool.terminate()
