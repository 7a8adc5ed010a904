"""Staff keys: created once, stored only as a hash, looked up on every staff request.

A key is `schoolapp_staff_` and 43 URL-safe characters from `secrets` (256
bits). With that much entropy a fast hash is the right one: SHA-256 cannot be
reversed or brute-forced, and, unsalted, it is the index the lookup uses in
one query. bcrypt or argon2 exist to slow guessing of low-entropy passwords;
here they would add tens of milliseconds of CPU to every request and, being
salted, could not be looked up by an index.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from config.errors import DuplicateKey, DuplicateKeyName
from models.db import Database, Operation

KEY_PREFIX = "schoolapp_staff_"
_KEY_SHAPE = re.compile(r"schoolapp_staff_[A-Za-z0-9_-]{43}")
# Writing last_used_at at most once a minute keeps a busy key from costing a write a request.
LAST_USED_RESOLUTION_SECONDS = 60

Role = Literal["viewer", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "admin")

INSERT_KEY = (
    "INSERT INTO staff_keys (name, rotation, role, expires_at, key_hash, created_at)"
    " VALUES (%s, %s, %s, %s, %s, UTC_TIMESTAMP())"
)
_SELECT = (
    "SELECT id, name, created_at, last_used_at, revoked_at, role, expires_at, rotation, key_hash"
    " FROM staff_keys"
)
SELECT_KEY_BY_ID = _SELECT + " WHERE id = %s"
# A name's newest rotation is the key that name stands for now.
SELECT_KEY_BY_NAME = _SELECT + " WHERE name = %s ORDER BY rotation DESC LIMIT 1"
SELECT_KEY_BY_HASH = _SELECT + " WHERE key_hash = %s"
SELECT_KEYS = _SELECT + " ORDER BY id"
_HASH_COLUMN = 8
REVOKE_KEY = (
    "UPDATE staff_keys SET revoked_at = UTC_TIMESTAMP() WHERE id = %s AND revoked_at IS NULL"
)
TOUCH_KEY = (
    "UPDATE staff_keys SET last_used_at = UTC_TIMESTAMP() WHERE id = %s AND (last_used_at IS NULL"
    " OR last_used_at < UTC_TIMESTAMP() - INTERVAL %s SECOND)"
)


@dataclass(frozen=True, slots=True)
class StaffKey:
    """A key as stored, without its hash; times are UTC."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    role: Role = "admin"
    expires_at: datetime | None = None
    rotation: int = 0

    def expired(self, now: datetime) -> bool:
        """Whether the key has expired at `now` (naive UTC)."""
        return self.expires_at is not None and self.expires_at <= now


# Called with the new key inside the transaction that stores it: if it fails, no key is stored.
Deliver = Callable[[str], Awaitable[None]]


def _key(row: tuple[Any, ...]) -> StaffKey:
    key_id, name, created_at, last_used_at, revoked_at, role, expires_at, rotation = row[:8]
    return StaffKey(
        int(key_id), name, created_at, last_used_at, revoked_at, role, expires_at, int(rotation)
    )


def hash_key(key: str) -> bytes:
    """The stored form of `key`: its SHA-256 digest."""
    return hashlib.sha256(key.encode()).digest()


async def create_key(
    db: Database,
    name: str,
    role: Role,
    expires_at: datetime | None = None,
    deliver: Deliver | None = None,
) -> tuple[StaffKey, str]:
    """Store a new key named `name`; the key and its only plain-text copy.

    DuplicateKeyName when a key (even a revoked one) has that name.
    """
    async with db.transaction() as tx:
        return await _issue(tx, name, rotation=0, role=role, expires_at=expires_at, deliver=deliver)


async def rotate_key(
    db: Database, old: StaffKey, expires_at: datetime | None, deliver: Deliver | None = None
) -> tuple[StaffKey, str]:
    """A new key for `old`'s name and role, `old` revoked, in one transaction.

    DuplicateKeyName when another rotation of that name won the race.
    """
    async with db.transaction() as tx:
        new = await _issue(
            tx,
            old.name,
            rotation=old.rotation + 1,
            role=old.role,
            expires_at=expires_at,
            deliver=deliver,
        )
        await tx.execute(REVOKE_KEY, (old.id,))
    return new


async def _issue(
    tx: Operation,
    name: str,
    *,
    rotation: int,
    role: Role,
    expires_at: datetime | None,
    deliver: Deliver | None,
) -> tuple[StaffKey, str]:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        await tx.execute(INSERT_KEY, (name, rotation, role, expires_at, hash_key(key)))
    except DuplicateKey:
        raise DuplicateKeyName(name) from None
    row = await tx.fetch_one(SELECT_KEY_BY_NAME, (name,))
    assert row is not None
    if deliver is not None:
        await deliver(key)
    return _key(row), key


async def list_keys(db: Database) -> list[StaffKey]:
    """Every key, revoked ones included, oldest first."""
    return [_key(row) for row in await db.fetch_all(SELECT_KEYS)]


async def find_key(db: Database, name_or_id: str) -> StaffKey | None:
    """The key with that name (its newest rotation), or that id when it is all digits."""
    if name_or_id.isdigit():
        row = await db.fetch_one(SELECT_KEY_BY_ID, (int(name_or_id),))
    else:
        row = await db.fetch_one(SELECT_KEY_BY_NAME, (name_or_id,))
    return _key(row) if row is not None else None


async def revoke_key(db: Database, key: StaffKey) -> bool:
    """Revoke `key` from now on; False when it was revoked already."""
    return await db.execute(REVOKE_KEY, (key.id,)) == 1


async def key_for(db: Database, presented: str) -> StaffKey | None:
    """The stored key matching `presented`, revoked or not; None when there is none.

    Looked up on every request, never cached, so a revocation holds at once.
    """
    if not _KEY_SHAPE.fullmatch(presented):
        return None
    digest = hash_key(presented)
    row = await db.fetch_one(SELECT_KEY_BY_HASH, (digest,))
    # The index found the row by equality; compare again in constant time anyway.
    if row is None or not hmac.compare_digest(bytes(row[_HASH_COLUMN]), digest):
        return None
    return _key(row)


async def note_use(db: Database, key: StaffKey) -> None:
    """Record that `key` was used just now (to the minute).

    The row just read tells whether a write is due: most requests make none
    (the UPDATE costs about as much as the lookup before it: docs/performance.md).
    """
    resolution = timedelta(seconds=LAST_USED_RESOLUTION_SECONDS)
    now = datetime.now(UTC).replace(tzinfo=None)
    if key.last_used_at is None or key.last_used_at < now - resolution:
        await db.execute(TOUCH_KEY, (key.id, LAST_USED_RESOLUTION_SECONDS))
