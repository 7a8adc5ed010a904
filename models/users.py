"""Applicants stored in the `users` table."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from config.database import Database
from config.errors import ConnectionLost, DuplicateKey
from config.operation import Operation
from models.errors import DuplicateEmail

logger = logging.getLogger("schoolapp.users")

INSERT_USER = (
    "INSERT INTO users (id, name, email, phone, program, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)
USER_EXISTS = "SELECT 1 FROM users WHERE id = %s"


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


async def _insert(op: Operation, user: User) -> None:
    # created_at is written rather than defaulted so the answer shows the stored
    # value without a second query; the connection's time zone is UTC.
    values = (user.id, user.name, user.email, user.phone, user.program, user.created_at)
    try:
        await op.execute(INSERT_USER, values)
    except DuplicateKey:
        raise DuplicateEmail(user.email) from None
