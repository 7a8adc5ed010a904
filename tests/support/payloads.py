"""Registrations for tests, each with an address no other test uses: bodies, and stored rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from models.db import Database
from models.registrations import Registration


def unique_email(domain: str = "example.com") -> str:
    """An address no other test has registered."""
    return f"applicant.{uuid.uuid4().hex[:16]}@{domain}"


def registration(**fields: Any) -> dict[str, Any]:
    """A valid registration with a unique email; keyword arguments replace fields."""
    body: dict[str, Any] = {
        "name": "Ada Lovelace",
        "email": unique_email(),
        "phone": "555-123-4567",
        "program": "computer-science",
    }
    body.update(fields)
    return body


async def stored_registration(
    db: Database, *, name: str = "Ada Lovelace", created_at: datetime | None = None
) -> Registration:
    """A row put straight into `users` (no request, no email handed off), as the old service did."""
    row = Registration(
        str(uuid.uuid4()), name, unique_email(), "5551234567", "arts",
        created_at or datetime.now(UTC).replace(microsecond=0, tzinfo=None),
    )  # fmt: skip
    await db.execute(
        "INSERT INTO users (id, name, email, phone, program, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (row.id, row.name, row.email, row.phone, row.program, row.created_at),
    )
    return row
