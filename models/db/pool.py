"""The life of the one aiomysql pool: opened lazily, replaced after failures, closed aside.

The pool is built without connecting, so building it never waits or fails;
connections open on demand, never more than `DB_POOL_MAX`. The database is set up
(`create_database`, then `create_tables`) on the first connection that succeeds,
so a database that is down at start-up is set up when it comes back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiomysql
from aiomysql import Connection

from config.credentials import Credentials, CredentialsSource
from config.errors import ConfigError, CredentialsRejected, DatabaseUnavailable, UnknownDatabase
from config.metrics import METRICS
from config.settings import Settings
from models.db.driver_errors import Deadline, map_driver_errors
from models.db.tls import client_context

logger = logging.getLogger("schoolapp.database")

Setup = Callable[[Connection], Awaitable[None]]
CreateDatabase = Callable[[Connection, str], Awaitable[None]]


class ConnectionPool:
    """Hands out pooled connections; a new pool after a password rotation or a lost connection."""

    def __init__(
        self,
        settings: Settings,
        credentials: CredentialsSource,
        *,
        create_tables: Setup | None,
        create_database: CreateDatabase | None,
    ) -> None:
        self._settings = settings
        self._credentials = credentials
        self._create_tables = create_tables
        self._create_database = create_database
        self._pool: aiomysql.Pool | None = None
        self._ready = False
        self._setup_lock = asyncio.Lock()
        self._reload_lock = asyncio.Lock()
        self._closing_pools: set[asyncio.Task[None]] = set()
        # Turns in arrival order: aiomysql lets a newcomer take a returned connection
        # before the waiter it wakes, which queues again: a long tail (docs/performance.md).
        self._turns = asyncio.Semaphore(settings.db_pool_max)

    async def open(self) -> None:
        """Open a first connection now, setting the database up; DatabaseUnavailable if down.

        Its message starts with the server's host:port, which the driver's may lack.
        """
        try:
            pool, conn = await self.acquire()
        except DatabaseUnavailable as exc:
            where = self._credentials.current()
            raise type(exc)(f"{where.host}:{where.port}: {exc}") from exc
        self.release(pool, conn)

    async def acquire(self) -> tuple[aiomysql.Pool, Connection]:
        """A connection and its pool, for `release(pool, conn)`; turns in arrival order."""
        started = time.perf_counter()
        await self._turns.acquire()
        try:
            pool = self._pool
            if self._ready and pool is not None and (pool.freesize or pool.size >= pool.maxsize):
                # A free connection is there, or a full pool will hand one back: no new
                # connection to open, so no connect timer (the operation bounds the wait).
                acquired = await self._acquire_with_current_credentials()
            else:
                acquired = await self._open_and_acquire()
        except BaseException:
            self._turns.release()
            raise
        METRICS.pool_waited(time.perf_counter() - started)
        return acquired

    def release(self, pool: aiomysql.Pool, conn: Connection) -> None:
        """Give back a connection (closed or not) and its turn to the next in line."""
        pool.release(conn)
        self._turns.release()

    async def _open_and_acquire(self) -> tuple[aiomysql.Pool, Connection]:
        async with Deadline(
            self._settings.db_connect_timeout, "no database connection within the connect timeout"
        ):
            if not self._ready:
                await self._set_up()
            return await self._acquire_with_current_credentials()

    def discard(self, pool: aiomysql.Pool) -> None:
        """Replace `pool` after one of its connections was lost.

        Its siblings are probably dead too (a restart, a failover): start afresh
        rather than let each request find one.
        """
        if self._pool is pool:
            self._pool = None
            self._close_in_background(pool)

    async def close(self) -> None:
        """Close every pool, letting connections in use finish within `operation_timeout`."""
        pool, self._pool = self._pool, None
        if pool is not None:
            self._closing_pools.add(asyncio.ensure_future(self._close_pool(pool)))
        if self._closing_pools:
            await asyncio.gather(*self._closing_pools)

    async def _acquire_with_current_credentials(self) -> tuple[aiomysql.Pool, Connection]:
        pool = self._current_pool()
        try:
            with map_driver_errors():
                return pool, await pool.acquire()
        except CredentialsRejected:
            if not self._settings.aws_mode:
                raise  # local settings cannot change under a running process
            # The password may have been rotated: read it again, retry once.
            await self._reload_credentials()
            pool = self._current_pool()
            with map_driver_errors():
                return pool, await pool.acquire()

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
                with map_driver_errors():
                    if self._create_tables is not None:
                        await self._create_tables(conn)
            except BaseException:
                conn.close()
                raise
            finally:
                pool.release(conn)
            self._ready = True

    async def _run_create_database(self, credentials: Credentials) -> None:
        assert self._create_database is not None
        with map_driver_errors():
            conn = await aiomysql.connect(**self._connect_args(credentials, database=None))
            try:
                await self._create_database(conn, credentials.database)
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
            "connect_timeout": self._settings.db_connect_timeout,
            "ssl": client_context(self._settings.db_ssl_mode, self._settings.db_ssl_ca),
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

    def _close_in_background(self, pool: aiomysql.Pool) -> None:
        task = asyncio.ensure_future(self._close_pool(pool))
        self._closing_pools.add(task)
        task.add_done_callback(self._closing_pools.discard)

    async def _close_pool(self, pool: aiomysql.Pool) -> None:
        pool.close()
        try:
            async with asyncio.timeout(self._settings.db_operation_timeout):
                await pool.wait_closed()
        except TimeoutError:
            pool.terminate()
