"""The staff audit trail: one row for each staff request and each key created or revoked.

Rows name the key and the action, never an applicant: callers pass filters
with free text reduced to its length (see controllers/staff_audit.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson

from models.db import Database

INSERT_AUDIT = (
    "INSERT INTO staff_audit (key_name, action, detail, row_count, request_id)"
    " VALUES (%s, %s, %s, %s, %s)"
)
_SELECT = "SELECT id, at, key_name, action, detail, row_count, request_id FROM staff_audit"
SELECT_NEWEST = f"{_SELECT} ORDER BY id DESC LIMIT %s"
SELECT_OLDER = f"{_SELECT} WHERE id < %s ORDER BY id DESC LIMIT %s"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What one staff action did: which key, what, with which filters, on how many rows."""

    key_name: str
    action: str
    detail: dict[str, object]
    row_count: int | None
    request_id: str | None


@dataclass(frozen=True, slots=True)
class AuditRow:
    """An entry as stored, with its id and UTC time."""

    id: int
    at: datetime
    entry: AuditEntry


async def record(db: Database, entry: AuditEntry) -> None:
    """Store `entry` (committed when this returns)."""
    detail = orjson.dumps(entry.detail, option=orjson.OPT_SORT_KEYS).decode()
    await db.execute(
        INSERT_AUDIT, (entry.key_name, entry.action, detail, entry.row_count, entry.request_id)
    )


async def newest(db: Database, limit: int, before_id: int | None = None) -> list[AuditRow]:
    """Up to `limit` rows, newest first, older than `before_id` when given."""
    if before_id is None:
        rows = await db.fetch_all(SELECT_NEWEST, (limit,))
    else:
        rows = await db.fetch_all(SELECT_OLDER, (before_id, limit))
    return [
        AuditRow(
            id=int(row_id),
            at=at,
            entry=AuditEntry(key_name, action, orjson.loads(detail), row_count, request_id),
        )
        for row_id, at, key_name, action, detail, row_count, request_id in rows
    ]
