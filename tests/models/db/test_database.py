"""Database operations and transactions against the real server: deadlines, lost
connections, refused statements, and what is stored when a block fails."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from config.credentials import DirectCredentials
from config.errors import ConnectionLost, DatabaseUnavailable, DuplicateKey, StatementRejected
from models.db import Database, Operation
from models.migrations.startup import StartupMigrations
from tests.support.app_client import SettingsFactory
from tests.support.mysql_target import MySQLTarget

pytestmark = pytest.mark.anyio

INSERT = (
    "INSERT INTO users (id, name, email, phone, program, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)
QUERY_TIMEOUT = 0.5


@pytest.fixture
async def db(make_settings: SettingsFactory, fresh_database: str) -> AsyncIterator[Database]:
    # One connection, so that a test sees whether a connection was reused.
    settings = make_settings(
        db_name=fresh_database,
        db_connect_timeout=1.0,
        db_query_timeout=QUERY_TIMEOUT,
        db_pool_max=1,
    )
    credentials = DirectCredentials(settings)
    database = Database(
        settings, credentials, create_tables=StartupMigrations(credentials, settings)
    )
    await database.start()
    yield database
    await database.close()


def row(email: str) -> tuple[object, ...]:
    return (str(uuid.uuid4()), "Ann", email, "0123456789", "Biology", datetime(2026, 1, 2, 3, 4, 5))


def stored(mysql: MySQLTarget, database: str, email: str) -> int:
    rows = mysql.execute("SELECT COUNT(*) FROM users WHERE email = %s", (email,), database)
    return int(rows[0][0])


async def connection_id(op: Operation) -> int:
    found = await op.fetch_one("SELECT CONNECTION_ID()")
    assert found is not None
    return int(found[0])


async def test_fetch_all_returns_every_row_and_fetch_one_the_first(db: Database) -> None:
    for email in ("b@example.com", "a@example.com", "c@example.com"):
        assert await db.execute(INSERT, row(email)) == 1
    emails = await db.fetch_all("SELECT email FROM users ORDER BY email")
    assert emails == [("a@example.com",), ("b@example.com",), ("c@example.com",)]
    assert await db.fetch_all("SELECT email FROM users WHERE email = 'none'") == []
    assert await db.fetch_one("SELECT email FROM users ORDER BY email DESC") == ("c@example.com",)
    assert await db.fetch_one("SELECT email FROM users WHERE email = 'none'") is None


async def test_an_operation_keeps_one_connection_for_its_statements(db: Database) -> None:
    async with db.operation() as op:
        first = await connection_id(op)
        await op.execute("DO 1")
        assert await connection_id(op) == first


async def test_a_transaction_is_stored_only_when_it_commits(
    db: Database, mysql: MySQLTarget, fresh_database: str
) -> None:
    async with db.transaction() as tx:
        await tx.execute(INSERT, row("one@example.com"))
        await tx.execute(INSERT, row("two@example.com"))
        # Not yet visible to anyone else.
        assert stored(mysql, fresh_database, "one@example.com") == 0
    assert stored(mysql, fresh_database, "one@example.com") == 1
    assert stored(mysql, fresh_database, "two@example.com") == 1


async def test_a_refused_statement_rolls_the_whole_transaction_back(
    db: Database, mysql: MySQLTarget, fresh_database: str
) -> None:
    await db.execute(INSERT, row("taken@example.com"))
    used = 0

    async def insert_new_then_taken() -> None:
        nonlocal used
        async with db.transaction() as tx:
            await tx.execute(INSERT, row("new@example.com"))
            used = await connection_id(tx)
            await tx.execute(INSERT, row("taken@example.com"))

    with pytest.raises(DuplicateKey):
        await insert_new_then_taken()
    assert stored(mysql, fresh_database, "new@example.com") == 0
    assert stored(mysql, fresh_database, "taken@example.com") == 1
    # Rolled back rather than closed: the same connection serves on, autocommitting.
    async with db.operation() as op:
        assert await connection_id(op) == used
        await op.execute(INSERT, row("after@example.com"))
    assert stored(mysql, fresh_database, "after@example.com") == 1


async def test_an_error_of_the_block_itself_rolls_back_and_is_raised_as_it_is(
    db: Database, mysql: MySQLTarget, fresh_database: str
) -> None:

    async def insert_then_fail() -> None:
        async with db.transaction() as tx:
            await tx.execute(INSERT, row("rolled@example.com"))
            raise LookupError("the caller's own")

    with pytest.raises(LookupError, match="the caller's own"):
        await insert_then_fail()
    assert stored(mysql, fresh_database, "rolled@example.com") == 0


async def test_a_lost_connection_is_replaced_for_the_next_statement_of_an_operation(
    db: Database, mysql: MySQLTarget
) -> None:
    async with db.operation() as op:
        first = await connection_id(op)
        mysql.execute(f"KILL {first}")
        with pytest.raises(ConnectionLost):
            await op.execute("DO 1")
        assert await connection_id(op) != first


async def test_a_transaction_whose_connection_is_lost_refuses_to_go_on(
    db: Database, mysql: MySQLTarget, fresh_database: str
) -> None:

    async def insert_kill_then_insert_twice() -> None:
        async with db.transaction() as tx:
            await tx.execute(INSERT, row("lost@example.com"))
            mysql.execute(f"KILL {await connection_id(tx)}")
            with pytest.raises(ConnectionLost):
                await tx.execute(INSERT, row("second@example.com"))
            # Not on a fresh connection outside the transaction: refused.
            await tx.execute(INSERT, row("third@example.com"))

    with pytest.raises(ConnectionLost, match="transaction's connection was lost"):
        await insert_kill_then_insert_twice()
    for email in ("lost@example.com", "second@example.com", "third@example.com"):
        assert stored(mysql, fresh_database, email) == 0


async def test_a_statement_the_server_refuses_keeps_the_connection(db: Database) -> None:
    async with db.operation() as op:
        first = await connection_id(op)
        with pytest.raises(StatementRejected) as refused:
            await op.execute("SELEC 1")
        assert refused.value.code == 1064
        assert await connection_id(op) == first


async def test_an_operation_past_its_deadline_is_unavailable_and_the_next_one_works(
    db: Database,
) -> None:
    with pytest.raises(DatabaseUnavailable, match="did not answer in time"):
        await db.fetch_one("SELECT SLEEP(5)")
    assert await db.fetch_one("SELECT 1") == (1,)
    assert await db.ping(1.0)


async def test_connections_are_handed_out_in_the_order_they_were_asked_for(db: Database) -> None:
    # aiomysql alone gives a connection coming back to whoever asks next, before
    # the request that was already waiting for it (which then queues again).
    served: list[str] = []

    async def register(name: str) -> None:
        async with db.operation() as op:
            await op.execute("DO 1")
            served.append(name)

    async with db.operation() as holder:
        await holder.execute("DO 1")  # the pool's only connection
        waiting = asyncio.create_task(register("waiting"))
        await asyncio.sleep(0.05)
        assert not waiting.done()
    # The connection is back; a new request arrives before the waiting one runs.
    newcomer = asyncio.create_task(register("newcomer"))
    await asyncio.gather(waiting, newcomer)
    assert served == ["waiting", "newcomer"]
