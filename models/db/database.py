"""The database as the models see it: operations, each within one deadline.

Every way the database can fail ends as a `DatabaseUnavailable` raised within a
bounded time: a refused or black-holed connection, a dead pooled connection, a
query that does not answer. The pieces: `pool` (the pool's life), `operation`
(statements sharing a deadline and a connection), `driver_errors` (the driver's
failures and the deadlines as our exceptions), `tls`, and `sync` (a blocking
connection for migrations).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from config.credentials import CredentialsSource
from config.errors import DatabaseUnavailable, StatementRejected
from config.settings import Settings
from models.db.driver_errors import Deadline
from models.db.operation import IsolationLevel, Operation, Row, Transaction
from models.db.pool import ConnectionPool, CreateDatabase, Setup

logger = logging.getLogger("schoolapp.database")

_TOO_SLOW = "the database did not answer in time"


class Database:
    """Runs the service's statements on the one pool, each operation within its deadline.

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
        self._pools = ConnectionPool(
            settings, credentials, create_tables=create_tables, create_database=create_database
        )
        self._operation_timeout = settings.db_operation_timeout

    @property
    def operation_timeout(self) -> float:
        """The longest one operation may wait: a connection, then its statements."""
        return self._operation_timeout

    async def start(self) -> None:
        """Open the pool and set up the schema; a database that is down is only logged."""
        try:
            await self._pools.open()
        except DatabaseUnavailable as exc:
            logger.warning("database unavailable at start-up, will retry: %s", exc)

    async def open(self) -> None:
        """Open a first connection and set the schema up now; DatabaseUnavailable if it cannot."""
        await self._pools.open()

    async def close(self) -> None:
        """Close the pool, letting connections in use finish within `operation_timeout`."""
        await self._pools.close()

    def operation(self) -> Operation:
        """Statements that share one pooled connection and `operation_timeout`, retries included.

        `async with db.operation() as op: await op.execute(...)`; past the deadline
        the block is cancelled and DatabaseUnavailable raised.
        """
        return Operation(self._pools, Deadline(self._operation_timeout, _TOO_SLOW))

    def transaction(self, isolation: IsolationLevel | None = None) -> Transaction:
        """An operation whose statements commit together (BEGIN..COMMIT, ROLLBACK on error).

        `isolation` sets that transaction's level (the session's default otherwise).
        """
        return Transaction(self._pools, Deadline(self._operation_timeout, _TOO_SLOW), isolation)

    async def execute(self, sql: str, args: Sequence[object] = ()) -> int:
        """Run one statement as an operation of its own; the affected row count."""
        async with self.operation() as op:
            return await op.execute(sql, args)

    async def fetch_one(self, sql: str, args: Sequence[object] = ()) -> Row | None:
        """Run one query as an operation of its own; its first row, or None."""
        async with self.operation() as op:
            return await op.fetch_one(sql, args)

    async def fetch_all(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        """Run one query as an operation of its own; all its rows."""
        async with self.operation() as op:
            return await op.fetch_all(sql, args)

    async def ping(self, within: float) -> bool:
        """True when the server answers a ping within `within` seconds."""
        try:
            async with Operation(self._pools, Deadline(within, _TOO_SLOW)) as op:
                await op.ping()
        except (DatabaseUnavailable, StatementRejected) as exc:
            logger.info("database ping failed: %r", exc)
            return False
        return True
