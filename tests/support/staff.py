"""Staff keys and stored registrations for the staff routes' tests, written straight to SQL."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from config.settings import Settings
from tests.support.app_client import serve
from tests.support.mysql_target import MySQLTarget

Row = tuple[str, str, str, str | None, str | None, datetime]


def make_key(
    mysql: MySQLTarget, database: str, name: str | None = None, role: str = "admin"
) -> str:
    """A new staff key stored as the service stores it (its SHA-256); returns the key."""
    key = "schoolapp_staff_" + secrets.token_urlsafe(32)
    mysql.execute(
        "INSERT INTO staff_keys (name, key_hash, role) VALUES (%s, %s, %s)",
        (name or f"key-{uuid.uuid4().hex[:8]}", hashlib.sha256(key.encode()).digest(), role),
        database=database,
    )
    return key


def row(
    name: str,
    created_at: datetime,
    *,
    email: str | None = None,
    phone: str | None = "5551234567",
    program: str | None = "arts",
) -> Row:
    """A registration row with a fresh id (and a unique address unless given)."""
    address = email or f"{name.split(maxsplit=1)[0].lower()}.{uuid.uuid4().hex[:10]}@example.com"
    return (str(uuid.uuid4()), name, address, phone, program, created_at)


def seed(mysql: MySQLTarget, database: str, rows: Sequence[Row]) -> None:
    """Store `rows` in `users` as they are (UTC times)."""
    with contextlib.closing(mysql.connect(database)) as conn, conn.cursor() as cursor:
        cursor.execute("SET time_zone = '+00:00'")
        cursor.executemany(
            "INSERT INTO users (id, name, email, phone, program, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            list(rows),
        )


def spaced(count: int, start: datetime, step: timedelta = timedelta(minutes=1)) -> list[Row]:
    """`count` rows named Applicant N, created `step` apart from `start`."""
    return [row(f"Applicant {i}", start + i * step) for i in range(count)]


def as_json(stored: Row) -> dict[str, Any]:
    """A row as the list route answers it."""
    row_id, name, email, phone, program, created_at = stored
    return {
        "id": row_id,
        "name": name,
        "email": email,
        "phone": phone,
        "program": program,
        "created_at": created_at.isoformat() + "Z",
    }


@dataclass
class Staff:
    """The app on a database of its own, a staff key for it, and the server behind it."""

    client: httpx.AsyncClient
    key: str
    mysql: MySQLTarget
    database: str

    @property
    def auth(self) -> dict[str, str]:
        """The Authorization header of the key."""
        return {"Authorization": f"Bearer {self.key}"}

    async def get(self, path: str, **params: Any) -> httpx.Response:
        """GET `path` with the key and query parameters."""
        return await self.client.get(path, params=params, headers=self.auth)

    def audit(self) -> list[tuple[Any, ...]]:
        """Every audit row: key name, action, detail, row count, request id."""
        return self.mysql.execute(
            "SELECT key_name, action, detail, row_count, request_id FROM staff_audit ORDER BY id",
            database=self.database,
        )


async def staff_app(settings: Settings, mysql: MySQLTarget, database: str) -> AsyncIterator[Staff]:
    """Serve the app (which migrates `database`), then make a key for it."""
    async with serve(settings) as client:
        yield Staff(client, make_key(mysql, database, "test-key"), mysql, database)
