"""Waiting for emails, and reading the outbox as the tests see it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tests.support.mysql_target import MySQLTarget

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], within: float, what: str, interval: float = 0.1) -> T:
    """Poll `check` until it returns something truthy; that value. Fails after `within` s."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value is not None and value is not False and value != []:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what} (last: {value!r})")
        time.sleep(interval)


async def wait_for_async(
    check: Callable[[], T | None], within: float, what: str, interval: float = 0.1
) -> T:
    """`wait_for` for a test running on the event loop (the app keeps running meanwhile)."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value is not None and value is not False and value != []:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what} (last: {value!r})")
        await asyncio.sleep(interval)


def outbox(mysql: MySQLTarget, database: str) -> dict[str, dict[str, Any]]:
    """Every outbox row by user id: status, attempts, claim, last_error, message_id."""
    rows = mysql.execute(
        "SELECT user_id, status, attempts, claim, last_error, message_id FROM mail_outbox",
        database=database,
    )
    columns = ("status", "attempts", "claim", "last_error", "message_id")
    return {str(row[0]): dict(zip(columns, row[1:], strict=True)) for row in rows}


def statuses(mysql: MySQLTarget, database: str) -> dict[str, str]:
    """user id -> outbox status."""
    return {user_id: row["status"] for user_id, row in outbox(mysql, database).items()}


def row_if(mysql: MySQLTarget, database: str, user_id: str, status: str) -> dict[str, Any] | None:
    """The outbox row of `user_id` once it has `status`, else None."""
    row = outbox(mysql, database).get(user_id)
    return row if row is not None and row["status"] == status else None
