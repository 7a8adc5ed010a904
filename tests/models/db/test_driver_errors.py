"""The driver's failures become the service's own exceptions, the driver's as the cause."""

from __future__ import annotations

import asyncio

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
from models.db.driver_errors import map_driver_errors

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
