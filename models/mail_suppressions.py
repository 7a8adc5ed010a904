"""The suppression list (`mail_suppressions`): addresses that bounced for good or
complained, never mailed again. The outbox's claim reads it (models/mail_outbox.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from models.db import Database

Reason = Literal["bounce", "complaint"]

# The first reason recorded stays, unless a complaint follows a bounce.
SUPPRESS = (
    "INSERT INTO mail_suppressions (email, reason, message_id, created_at) VALUES {}"
    " ON DUPLICATE KEY UPDATE reason = IF(%s = 'complaint', 'complaint', reason)"
)
SUPPRESS_ROW = "(%s, %s, %s, UTC_TIMESTAMP(3))"
MAX_ADDRESS_CHARS = 255


async def suppress(db: Database, addresses: Sequence[str], reason: Reason, message_id: str) -> None:
    """Put `addresses` on the list (those already there stay, with their first reason)."""
    wanted = [a for a in addresses if 0 < len(a) <= MAX_ADDRESS_CHARS]
    if not wanted:
        return
    args: list[object] = []
    for address in wanted:
        args += [address, reason, message_id[:255]]
    args.append(reason)
    await db.execute(SUPPRESS.format(", ".join([SUPPRESS_ROW] * len(wanted))), args)


async def is_suppressed(db: Database, address: str) -> bool:
    """Whether `address` is on the list (compared as `users.email` is)."""
    row = await db.fetch_one("SELECT 1 FROM mail_suppressions WHERE email = %s", (address,))
    return row is not None
