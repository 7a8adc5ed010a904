"""Applicants stored in the `users` table."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from config.errors import ConnectionLost, DuplicateEmail, DuplicateKey
from models.db import Database, Operation, Row

logger = logging.getLogger("schoolapp.users")

INSERT_USER = (
    "INSERT INTO users (id, name, email, phone, program, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)
USER_EXISTS = "SELECT 1 FROM users WHERE id = %s"
# `=` compares under the column's collation: the row whose email the unique key matched.
USER_BY_EMAIL = "SELECT id, name, email, phone, program, created_at FROM users WHERE email = %s"
USER_BY_ID = "SELECT id, name, email, phone, program, created_at FROM users WHERE id = %s"


@dataclass(frozen=True, slots=True)
class User:
    """An applicant as stored; `created_at` is UTC, whole seconds (the column's precision)."""

    id: str
    name: str
    email: str
    phone: str
    program: str
    created_at: datetime


async def insert_user(db: Database, user: User) -> None:
    """Store `user`, committed when this returns; DuplicateEmail if the email is taken.

    The id is chosen before the first attempt, so after a connection lost mid-INSERT
    one retry can tell "my row is there" from "someone else's row is there". Both
    attempts share one operation's deadline.
    """
    async with db.operation() as op:
        await store_user(op, user)


async def store_user(op: Operation, user: User) -> None:
    """`insert_user` within an operation the caller holds."""
    try:
        await _insert(op, user)
    except ConnectionLost as lost:
        logger.warning("connection lost during INSERT, retrying once: %s", lost)
        try:
            await _insert(op, user)
        except DuplicateEmail:
            if await op.fetch_one(USER_EXISTS, (user.id,)) is None:
                raise
            logger.info("the first attempt had stored the row", extra={"user_id": user.id})


async def find_user_by_email(op: Operation, email: str) -> User | None:
    """The stored applicant whose email the table's unique key equates with `email`."""
    return _user(await op.fetch_one(USER_BY_EMAIL, (email,)))


async def find_user(op: Operation, user_id: str) -> User | None:
    """The stored applicant with this id, or None."""
    return _user(await op.fetch_one(USER_BY_ID, (user_id,)))


def _user(row: Row | None) -> User | None:
    if row is None:
        return None
    user_id, name, email, phone, program, created_at = row
    # The old service could store NULL phone and program: read as "", which no
    # valid submission equals.
    return User(user_id, name, email, phone or "", program or "", created_at)


async def _insert(op: Operation, user: User) -> None:
    # created_at is written rather than defaulted so the answer shows the stored
    # value without a second query; the connection's time zone is UTC.
    values = (user.id, user.name, user.email, user.phone, user.program, user.created_at)
    try:
        await op.execute(INSERT_USER, values)
    except DuplicateKey:
        raise DuplicateEmail(user.email) from None
