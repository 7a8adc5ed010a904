"""The driver's failures become the service's own exceptions, the driver's as the cause."""

from __future__ import annotations

import asyncio
import time

import pymysql
import pytest

from config.errors import (
    ConnectionLost,
    CredentialsRejected,
    DatabaseUnavailable,
    DuplicateKey,
    StatementRejected,
    UnknownDatabase,
)
from models.db.driver_errors import Deadline, map_driver_errors

err = pymysql.err


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (err.OperationalError(1045, "Access denied"), CredentialsRejected),
        (err.OperationalError(1049, "Unknown database 'x'"), UnknownDatabase),
        (err.OperationalError(2003, "Can't connect"), DatabaseUnavailable),
        (err.OperationalError(2013, "Lost connection"), DatabaseUnavailable),
        (err.ProgrammingError(1142, "CREATE command denied"), DatabaseUnavailable),
        (ConnectionResetError(104, "reset"), DatabaseUnavailable),
        (TimeoutError(), DatabaseUnavailable),
    ],
)
def test_while_connecting_every_failure_means_the_database_cannot_be_used(
    failure: Exception, expected: type[DatabaseUnavailable]
) -> None:
    with pytest.raises(DatabaseUnavailable) as raised, map_driver_errors():
        raise failure
    assert type(raised.value) is expected
    assert raised.value.__cause__ is failure


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (err.OperationalError(2013, "Lost connection during query"), ConnectionLost),
        (err.OperationalError(2006, "MySQL server has gone away"), ConnectionLost),
        (err.OperationalError(1927, "Connection was killed"), ConnectionLost),
        (err.OperationalError(4031, "Disconnected for inactivity"), ConnectionLost),
        (err.OperationalError("no code"), ConnectionLost),
        (err.InterfaceError(0, ""), ConnectionLost),
        (BrokenPipeError(32, "broken pipe"), ConnectionLost),
        (RuntimeError("Connection closed"), ConnectionLost),
        (err.IntegrityError(1062, "Duplicate entry"), DuplicateKey),
        (err.OperationalError(1054, "Unknown column"), StatementRejected),
        (err.ProgrammingError(1064, "You have an error in your SQL syntax"), StatementRejected),
        (err.IntegrityError(1048, "Column cannot be null"), StatementRejected),
    ],
)
def test_mid_statement_a_lost_connection_differs_from_a_refused_statement(
    failure: Exception, expected: type[Exception]
) -> None:
    with pytest.raises(expected) as raised, map_driver_errors(mid_statement=True):
        raise failure
    assert type(raised.value) is expected
    assert raised.value.__cause__ is failure


def test_a_refused_statement_keeps_the_server_error_code() -> None:
    with pytest.raises(StatementRejected) as raised, map_driver_errors(mid_statement=True):
        raise err.IntegrityError(1062, "Duplicate entry 'a@b.c' for key 'email'")
    assert raised.value.code == 1062
    assert "Duplicate entry" in str(raised.value)


@pytest.mark.parametrize("mid_statement", [False, True])
def test_a_cancellation_and_foreign_errors_pass_through(mid_statement: bool) -> None:
    with pytest.raises(asyncio.CancelledError), map_driver_errors(mid_statement=mid_statement):
        raise asyncio.CancelledError
    with pytest.raises(KeyError), map_driver_errors(mid_statement=mid_statement):
        raise KeyError("not the driver")


def test_nothing_happens_when_nothing_fails() -> None:
    with map_driver_errors(mid_statement=True):
        value = 1
    assert value == 1


async def _sleep_within(deadline: Deadline, seconds: float) -> str:
    async with deadline:
        await asyncio.sleep(seconds)
    return "finished"


def test_a_block_past_its_deadline_is_cut_off_as_the_database_unavailable() -> None:
    async def run() -> float:
        started = asyncio.get_running_loop().time()
        with pytest.raises(DatabaseUnavailable, match="too slow") as raised:
            await _sleep_within(Deadline(0.05, "too slow"), 5)
        assert raised.value.__cause__ is None
        task = asyncio.current_task()
        assert task is not None
        assert task.cancelling() == 0  # our own cancellation was taken back
        return asyncio.get_running_loop().time() - started

    assert 0.05 <= asyncio.run(run()) < 1


def test_a_block_within_its_deadline_leaves_no_timer_behind() -> None:
    async def run() -> None:
        assert await _sleep_within(Deadline(0.05, "too slow"), 0) == "finished"
        await asyncio.sleep(0.1)  # past the deadline: nothing cancels the task now

    asyncio.run(run())


def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    async def run() -> None:
        task = asyncio.create_task(_sleep_within(Deadline(5, "too slow"), 5))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())


def test_a_cancellation_from_outside_wins_over_the_deadline_it_coincides_with() -> None:
    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        async with Deadline(0.01, "too slow"):
            # A shutdown's cancellation, due in the same turn of the loop as the deadline.
            asyncio.get_running_loop().call_later(0.02, task.cancel)
            time.sleep(0.05)  # noqa: ASYNC251 (blocks the loop: both are due at its next turn)
            await asyncio.sleep(1)

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(run())


def test_an_error_inside_the_block_passes_through_the_deadline() -> None:
    async def run() -> None:
        with pytest.raises(DuplicateKey):
            async with Deadline(5, "too slow"):
                raise DuplicateKey(1062, "Duplicate entry")

    asyncio.run(run())
