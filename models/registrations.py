"""Registrations: the rows of the `users` table, stored truthfully, read by staff, erased.

Storing. No service can know whether an INSERT cut off by its deadline committed:
it may land after the 503 (a delayed segment, a failover that completes late),
and the applicant, told to try again, does. So when the email turns out to be
taken, and only then (the common path stays one INSERT), the stored row is read
and the request is a retry of it when it has:

- the same id: this request's own first attempt, or an earlier request with the
  same Idempotency-Key;
- or the same name, email, phone and program, code point for code point as stored
  (after our normalisation; the unique key's collation ignores case and accents,
  this comparison does not), stored at most the replay window ago.

A retry is answered with the stored row (its id and created_at); anything else
for a taken email stays DuplicateEmail (409).

Reading. Pages use keyset pagination on (created_at, id): each page starts
strictly after the last row of the one before, so rows added between two calls
(newer, so before the cursor) neither shift nor repeat a page. Exports walk the
primary key instead (see `batch`). Every value reaches the server as a
parameter; the statement is put together from fixed fragments only.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from config.errors import ConnectionLost, DuplicateEmail, DuplicateKey
from models.db import Database, Operation, Row
from models.idempotency import KEY_WINDOW, IdempotencyKeys, KeyedRequest

logger = logging.getLogger("schoolapp.registrations")

_SELECT = "SELECT id, name, email, phone, program, created_at FROM users"
_INSERT = (
    "INSERT INTO users (id, name, email, phone, program, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)
_EXISTS = "SELECT 1 FROM users WHERE id = %s"
# `=` compares under the column's collation: the row whose email the unique key matched.
_BY_EMAIL = _SELECT + " WHERE email = %s"
_BY_ID = _SELECT + " WHERE id = %s"


def utc_iso(moment: datetime) -> str:
    """A naive UTC datetime (as the columns hold them) in ISO 8601 with a `Z`."""
    return moment.isoformat() + "Z"


@dataclass(frozen=True, slots=True)
class Registration:
    """One applicant's row; `created_at` is UTC, whole seconds (the column's precision).

    Rows of the old service may lack a phone or a program.
    """

    id: str
    name: str
    email: str
    phone: str | None
    program: str | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The row as every answer shows it."""
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "program": self.program,
            "created_at": utc_iso(self.created_at),
        }


def _registration(row: Row) -> Registration:
    return Registration(*row)


@dataclass(frozen=True, slots=True)
class Stored:
    """The registration as stored, and whether an earlier request had stored it."""

    registration: Registration
    replayed: bool


class Registrations:
    """Stores registrations; `window` is how long an identical submission counts as a
    retry (0: never, and no Idempotency-Key is kept either)."""

    def __init__(self, db: Database, window: timedelta) -> None:
        self._db = db
        self._window = window
        self._keys = IdempotencyKeys(KEY_WINDOW if window else timedelta(0))

    async def register(
        self, name: str, email: str, phone: str, program: str, keyed: KeyedRequest | None = None
    ) -> Stored:
        """Store a new registration, or find the row it retries; DuplicateEmail if neither.

        The id and created_at are made here, at the time of the request. With
        `keyed`, the key is claimed first (IdempotencyKeyReused if it came with
        another body).
        """
        new = Registration(
            id=str(uuid.uuid4()),
            name=name,
            email=email,
            phone=phone,
            program=program,
            # The column keeps whole seconds; truncate so the answer equals the row.
            created_at=datetime.now(UTC).replace(microsecond=0, tzinfo=None),
        )
        if keyed is None or not self._window:
            async with self._db.operation() as op:
                return await self._store(op, new)
        async with self._db.operation() as op:
            earlier_id = await self._keys.claim(op, keyed, new.id, new.created_at)
            if earlier_id is not None:
                earlier = await _find(op, _BY_ID, earlier_id)
                if earlier is not None:
                    return Stored(earlier, replayed=True)
                # Not stored, or not yet: send it again under the same id, so
                # that the earlier INSERT, should it land late, adds no row.
                new = replace(new, id=earlier_id)
            try:
                return await self._store(op, new)
            except DuplicateEmail:
                # Nothing stored under this key: leave no key behind to be squatted.
                # (A 503 keeps its key: its INSERT may still land, and the retry must
                # name the same id; tests/faults/test_ambiguous_commit.py.)
                await self._keys.release(op, keyed, new.id)
                raise

    async def _store(self, op: Operation, new: Registration) -> Stored:
        try:
            await _insert_once(op, new)
        except DuplicateEmail:
            stored = await _find(op, _BY_EMAIL, new.email)
            if stored is None or not self._is_retry(stored, new):
                raise
            return Stored(stored, replayed=True)
        return Stored(new, replayed=False)

    def _is_retry(self, stored: Registration, new: Registration) -> bool:
        if stored.id == new.id:
            return True
        return (
            bool(self._window)
            and (stored.name, stored.email, stored.phone, stored.program)
            == (new.name, new.email, new.phone, new.program)
            and new.created_at - stored.created_at <= self._window
        )


async def _find(op: Operation, sql: str, value: str) -> Registration | None:
    row = await op.fetch_one(sql, (value,))
    return None if row is None else _registration(row)


async def _insert_once(op: Operation, new: Registration) -> None:
    """Insert `new`; after a connection lost mid-INSERT, one retry tells "my row is
    there" (the id is chosen before the first attempt) from "someone else's row"."""
    try:
        await _insert(op, new)
    except ConnectionLost as lost:
        logger.warning("connection lost during INSERT, retrying once: %s", lost)
        try:
            await _insert(op, new)
        except DuplicateEmail:
            if await op.fetch_one(_EXISTS, (new.id,)) is None:
                raise
            logger.info("the first attempt had stored the row", extra={"user_id": new.id})


async def _insert(op: Operation, new: Registration) -> None:
    # created_at is written rather than defaulted so the answer shows the stored
    # value without a second query; the connection's time zone is UTC.
    values = (new.id, new.name, new.email, new.phone, new.program, new.created_at)
    try:
        await op.execute(_INSERT, values)
    except DuplicateKey:
        raise DuplicateEmail from None


_ORDER = " ORDER BY created_at DESC, id DESC LIMIT %s"
_PROGRAM = "program = %s"
_SINCE = "created_at >= %s"
_BEFORE = "created_at < %s"
# Search: the three fields joined by '|' (a search holds no '|', so it never spans two),
# without the punctuation names, emails and phones hold, compared in utf8mb4_unicode_ci,
# which ignores case and accents. That collation and REPLACE/CONCAT_WS are the same in
# MySQL 8 and MariaDB. No index can serve a substring: it is a scan, measured in
# docs/performance.md (bench/search.py); `users` may get no column or index of ours.
SEARCH_IGNORES = (
    " ",
    "''",
    "-",
    ".",
    "_",
    "+",
    "@",
    "(",
    ")",
    ",",
    "\N{RIGHT SINGLE QUOTATION MARK}",
)
_SEARCHED = "CONCAT_WS('|', name, email, phone)"
for _mark in SEARCH_IGNORES:
    _SEARCHED = f"REPLACE({_SEARCHED}, '{_mark}', '')"
_SEARCH = f"{_SEARCHED} COLLATE utf8mb4_unicode_ci LIKE %s"
_AFTER_CURSOR = "(created_at < %s OR (created_at = %s AND id < %s))"
_AFTER_DATE = "(created_at > %s OR (created_at = %s AND id > %s))"
_DATE_ORDER = " ORDER BY created_at, id LIMIT %s"
_COUNT = "SELECT COUNT(*) FROM users WHERE {}"
_AFTER_ID = "id > %s"
_ID_ORDER = " ORDER BY id LIMIT %s"
_TOTALS_BY_PROGRAM = (
    "SELECT program, COUNT(*) FROM users WHERE {} GROUP BY program ORDER BY program"
)
_TOTALS_BY_DAY = (
    "SELECT DATE(created_at), COUNT(*) FROM users WHERE {} GROUP BY DATE(created_at) ORDER BY 1"
)
DELETE_REGISTRATION = "DELETE FROM users WHERE id = %s"
# What was derived from the registration goes with it: an idempotency key names
# its id (beside a hash of its fields), the outbox row its confirmation email.
DELETE_IDEMPOTENCY_KEYS = "DELETE FROM idempotency_keys WHERE user_id = %s"
DELETE_MAIL_OUTBOX = "DELETE FROM mail_outbox WHERE user_id = %s"


@dataclass(frozen=True, slots=True)
class Filters:
    """Which rows: a program, a created_at range [since, before), a search.

    `search` holds letters and digits only (see `search_key`): it matches any part
    of the name, email or phone, ignoring case, accents and punctuation.
    """

    program: str | None = None
    since: datetime | None = None
    before: datetime | None = None
    search: str | None = None


def search_key(text: str) -> str:
    """What a search looks for: its letters and digits ("O'Brien" -> "OBrien")."""
    return "".join(c for c in text if c.isalnum())


@dataclass(frozen=True, slots=True)
class Position:
    """A page starts after this row (the last one of the page before)."""

    created_at: datetime
    id: str


def _where(filters: Filters, after: Position | None) -> tuple[str, list[object]]:
    clauses: list[str] = []
    args: list[object] = []
    if filters.program is not None:
        clauses.append(_PROGRAM)
        args.append(filters.program)
    if filters.since is not None:
        clauses.append(_SINCE)
        args.append(filters.since)
    if filters.before is not None:
        clauses.append(_BEFORE)
        args.append(filters.before)
    if filters.search is not None:
        # Letters and digits only: no LIKE wildcard to escape.
        clauses.append(_SEARCH)
        args.append(f"%{search_key(filters.search)}%")
    if after is not None:
        clauses.append(_AFTER_CURSOR)
        args += [after.created_at, after.created_at, after.id]
    return " AND ".join(clauses) or "TRUE", args


async def page(
    db: Database, filters: Filters, after: Position | None, limit: int
) -> list[Registration]:
    """Up to `limit` rows matching `filters`, newest first, after `after` when given."""
    where, args = _where(filters, after)
    rows = await db.fetch_all(f"{_SELECT} WHERE {where}{_ORDER}", (*args, limit))
    return [_registration(row) for row in rows]


async def batch(
    db: Database, filters: Filters, after_id: str | None, limit: int
) -> list[Registration]:
    """Up to `limit` rows matching `filters` in primary-key order, after `after_id` if given.

    `users` has no index on created_at (the contract fixes the table), so every
    newest-first page sorts the whole table; walking the primary key costs the
    same for every batch, which is what an export of every row needs
    (docs/performance.md).
    """
    where, args = _where(filters, None)
    if after_id is not None:
        where, args = f"{where} AND {_AFTER_ID}", [*args, after_id]
    rows = await db.fetch_all(f"{_SELECT} WHERE {where}{_ID_ORDER}", (*args, limit))
    return [_registration(row) for row in rows]


async def count(db: Database, filters: Filters) -> int:
    """How many rows match `filters` (all pages together)."""
    where, args = _where(filters, None)
    row = await db.fetch_one(_COUNT.format(where), args)
    return int(row[0]) if row is not None else 0


async def by_date(
    db: Database, filters: Filters, after: Position | None, limit: int
) -> list[Registration]:
    """Up to `limit` rows matching `filters`, oldest first, after `after` when given.

    Each batch is its own query (no connection held between batches); without an
    index on created_at each one scans the matching rows (docs/performance.md).
    """
    where, args = _where(filters, None)
    if after is not None:
        where = f"{where} AND {_AFTER_DATE}"
        args += [after.created_at, after.created_at, after.id]
    rows = await db.fetch_all(f"{_SELECT} WHERE {where}{_DATE_ORDER}", (*args, limit))
    return [_registration(row) for row in rows]


@dataclass(frozen=True, slots=True)
class Totals:
    """Counts over a range: per program (None for rows without one) and per UTC day."""

    by_program: list[tuple[str | None, int]]
    by_day: list[tuple[date, int]]


async def totals(db: Database, filters: Filters) -> Totals:
    """Registrations matching `filters`, counted per program and per day."""
    where, args = _where(filters, None)
    by_program = await db.fetch_all(_TOTALS_BY_PROGRAM.format(where), args)
    by_day = await db.fetch_all(_TOTALS_BY_DAY.format(where), args)
    return Totals(
        by_program=[(program, int(count)) for program, count in by_program],
        by_day=[(_date(day), int(count)) for day, count in by_day],
    )


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def delete(db: Database, registration_id: str) -> bool:
    """Erase the registration and what was derived from it; False when there is none.

    One transaction: an erasure is whole or not at all.
    """
    async with db.transaction() as tx:
        if await tx.execute(DELETE_REGISTRATION, (registration_id,)) != 1:
            return False
        await tx.execute(DELETE_IDEMPOTENCY_KEYS, (registration_id,))
        await tx.execute(DELETE_MAIL_OUTBOX, (registration_id,))
    return True
