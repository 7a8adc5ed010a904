"""One database operation: its statements share one deadline and one pooled connection."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Literal, Self

import aiomysql
from aiomysql import Connection

from config.errors import ConnectionLost, DatabaseUnavailable, StatementRejected
from models.db.driver_errors import Deadline, map_driver_errors
from models.db.pool import ConnectionPool

logger = logging.getLogger("schoolapp.database")

Row = tuple[Any, ...]
IsolationLevel = Literal["READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"]


class Operation:
    """Statements bounded together by one deadline: `async with db.operation() as op:`.

    The connection is taken at the first statement and given back when the block
    ends. One whose protocol state is unknown (lost, or cut off mid-statement by the
    deadline) is closed instead and its pool replaced; a later statement of the same
    operation (a retry) then takes a fresh one. A statement the server refused (a
    duplicate key) leaves the connection in use. Rows are read before it goes back.
    """

    __slots__ = ("_conn", "_deadline", "_pool", "_pools")

    def __init__(self, pools: ConnectionPool, deadline: Deadline) -> None:
        self._pools = pools
        self._deadline = deadline
        self._pool: aiomysql.Pool | None = None
        self._conn: Connection | None = None

    async def __aenter__(self) -> Self:
        self._deadline.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._conn is not None:
                await self._end(self._conn, exc)
        except BaseException as failure:
            # Ending failed (a COMMIT lost or cut off): that failure is the outcome.
            exc_type = type(failure)
            raise
        finally:
            if self._conn is not None:
                self._release()
            self._deadline.end(exc_type)

    async def execute(self, sql: str, args: Sequence[object] = ()) -> int:
        """Run one statement and return the affected row count."""
        conn = self._conn if self._conn is not None else await self._connection()
        cursor = await self._send(conn, sql, args)
        return int(cursor.rowcount)

    async def fetch_one(self, sql: str, args: Sequence[object] = ()) -> Row | None:
        """Run one query and return its first row, or None."""
        conn = self._conn if self._conn is not None else await self._connection()
        cursor = await self._send(conn, sql, args)
        row = await cursor.fetchone()
        return tuple(row) if row is not None else None

    async def fetch_all(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        """Run one query and return all its rows."""
        conn = self._conn if self._conn is not None else await self._connection()
        cursor = await self._send(conn, sql, args)
        return [tuple(row) for row in await cursor.fetchall()]

    async def ping(self) -> None:
        """Ask the server to answer; DatabaseUnavailable if it cannot."""
        conn = self._conn if self._conn is not None else await self._connection()
        try:
            with map_driver_errors(mid_statement=True):
                await conn.ping(reconnect=False)
        except BaseException:
            # The pool is kept: a probe with a short deadline that a slow but
            # living database misses should not make every request reconnect.
            self._lose_connection(discard_pool=False)
            raise

    async def _end(self, conn: Connection, exc: BaseException | None) -> None:
        """What to do before the connection goes back: nothing; a transaction commits."""

    async def _connection(self) -> Connection:
        self._pool, self._conn = await self._pools.acquire()
        return self._conn

    async def _send(self, conn: Connection, sql: str, args: Sequence[object]) -> aiomysql.Cursor:
        try:
            with map_driver_errors(mid_statement=True):
                # The default cursor reads the whole result here: nothing is left
                # on the wire when the connection goes back to the pool.
                cursor = await conn.cursor()
                await cursor.execute(sql, tuple(args))
        except StatementRejected:
            raise  # the server refused the statement; the connection is fine
        except BaseException:
            # Lost, or cancelled mid-statement (the deadline passed): the protocol
            # state is unknown, and a server that does not answer one connection
            # will not answer its siblings either.
            self._lose_connection(discard_pool=True)
            raise
        return cursor

    def _release(self) -> None:
        assert self._pool is not None
        assert self._conn is not None
        self._pools.release(self._pool, self._conn)
        self._pool = self._conn = None

    def _lose_connection(self, *, discard_pool: bool) -> None:
        pool = self._pool
        assert pool is not None
        assert self._conn is not None
        self._conn.close()
        self._release()
        if discard_pool:
            self._pools.discard(pool)


class Transaction(Operation):
    """An operation whose statements commit together, or not at all.

    BEGIN comes with the first statement, COMMIT when the block ends, ROLLBACK
    when it fails. A transaction has one connection: once that is lost (the
    server then rolls back), every further statement raises ConnectionLost, and a
    retry takes a new transaction.
    """

    __slots__ = ("_began", "_isolation")

    def __init__(
        self, pools: ConnectionPool, deadline: Deadline, isolation: IsolationLevel | None = None
    ) -> None:
        super().__init__(pools, deadline)
        self._began = False
        self._isolation = isolation

    async def _connection(self) -> Connection:
        if self._began:
            raise ConnectionLost("the transaction's connection was lost; it was rolled back")
        self._began = True
        conn = await super()._connection()
        if self._isolation is not None:
            # Applies to the next transaction only; the pooled session keeps its default.
            await self._send(conn, f"SET TRANSACTION ISOLATION LEVEL {self._isolation}", ())
        await self._send(conn, "BEGIN", ())
        return conn

    async def _end(self, conn: Connection, exc: BaseException | None) -> None:
        if exc is None:
            await self._send(conn, "COMMIT", ())
        elif not isinstance(exc, Exception):
            # Cancelled: no time is left to roll back; closing the connection
            # makes the server do it.
            self._lose_connection(discard_pool=False)
        else:
            try:
                await self._send(conn, "ROLLBACK", ())
            except (DatabaseUnavailable, StatementRejected) as failure:
                # The block's own error is the one to answer. A connection that
                # cannot roll back is closed, and the server rolls back for it.
                logger.warning("rollback failed, closing the connection: %r", failure)
                if self._conn is not None:
                    self._lose_connection(discard_pool=False)
