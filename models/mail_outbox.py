"""The outbox of confirmation emails (`mail_outbox`): what is owed, claimed, sent, failed.

A row is derived from a committed `users` row, never written with it: the
registration stays one autocommitted INSERT (docs/mail.md: a transactional
outbox row costs far more client CPU, as bench/outbox_write.py measures).
`add` writes rows for ids handed over after their commit; `find_unrecorded`
finds committed registrations that still have none (their process died
first); an id already there is left as it is, so both paths and every task
agree on one row. Several senders share the table: `claim_due` takes due rows
with FOR UPDATE SKIP LOCKED, so two never take the same row, and leases them,
so a row claimed by a task that dies falls due again.
All times are the database server's clock (UTC), the one clock every task shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from models.db import Database

# Kept to the column's size; a provider's message is longer only when it rambles.
MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class OwedMail:
    """A claimed outbox row and the registration it confirms."""

    user_id: str
    claim: str
    attempts: int
    name: str
    email: str
    program: str | None
    registered_at: datetime
    # The address is on the suppression list: marked, never sent.
    suppressed: bool = False


@dataclass(frozen=True, slots=True)
class Handoff:
    """A committed registration owed an email: its client address, and how long
    after now it falls due (the sender's fair order, mail/worker.py)."""

    user_id: str
    client: str | None = None
    delay_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class MailCounts:
    """Confirmation emails by outcome; `pending` includes those being sent now.

    `bounced` and `complained` count rows in those statuses (SES's later verdicts):
    0 until a step adds them to the column's values.
    """

    pending: int
    sent: int
    failed: int
    bounced: int = 0
    complained: int = 0
    suppressed: int = 0


def _marks(count: int) -> str:
    return ", ".join(["%s"] * count)


# Not INSERT IGNORE: that would also pass over bad data, and warn on every duplicate.
ADD = (
    "INSERT INTO mail_outbox (user_id, client, status, due_at, created_at) VALUES {}"
    " ON DUPLICATE KEY UPDATE user_id = user_id"
)
ADD_ROW = "(%s, %s, 'pending', UTC_TIMESTAMP(3) + INTERVAL %s MICROSECOND, UTC_TIMESTAMP(3))"


async def add(db: Database, handoffs: Sequence[str | Handoff]) -> None:
    """Record that each of these committed registrations is owed an email.

    A bare id is due now, from no known client. Ids already recorded are left
    alone, so any number of callers may add one id.
    """
    if not handoffs:
        return
    items = [Handoff(h) if isinstance(h, str) else h for h in handoffs]
    # In key order: two processes adding overlapping ids lock them in the same order,
    # so neither waits on the other in a cycle (a deadlock, 1213, seen under fleet-check).
    items = sorted({item.user_id: item for item in items}.values(), key=lambda i: i.user_id)
    args: list[object] = []
    for item in items:
        args += [item.user_id, item.client, int(item.delay_seconds * 1_000_000)]
    await db.execute(ADD.format(", ".join([ADD_ROW] * len(items))), args)


# Registrations since emails started (mail_outbox_start) and within the window,
# with no outbox row. `users` has no index on created_at and must not get one:
# this reads the whole table, without locking it (a plain SELECT).
FIND_UNRECORDED = """
SELECT u.id FROM users u
LEFT JOIN mail_outbox o ON o.user_id = u.id
WHERE o.user_id IS NULL
  AND u.created_at >= (SELECT started_at FROM mail_outbox_start WHERE id = 1)
  AND u.created_at >= UTC_TIMESTAMP() - INTERVAL %s SECOND
LIMIT %s
"""


async def find_unrecorded(db: Database, window_seconds: int, limit: int) -> list[str]:
    """Ids of at most `limit` registrations of the last `window_seconds` owed an unrecorded email.

    Registrations from before the outbox existed are never returned.
    """
    rows = await db.fetch_all(FIND_UNRECORDED, (window_seconds, limit))
    return [str(row[0]) for row in rows]


SELECT_DUE = (
    "SELECT user_id, attempts FROM mail_outbox"
    " WHERE status = 'pending' AND due_at <= UTC_TIMESTAMP(3)"
    " ORDER BY due_at LIMIT %s FOR UPDATE SKIP LOCKED"
)
CLAIM = (
    "UPDATE mail_outbox SET claim = %s, attempts = attempts + 1,"
    " due_at = UTC_TIMESTAMP(3) + INTERVAL %s MICROSECOND WHERE user_id IN ({})"
)
# The suppression list is compared under the users.email collation, as the unique key is.
REGISTRATIONS = (
    "SELECT u.id, u.name, u.email, u.program, u.created_at, s.email IS NOT NULL FROM users u"
    " LEFT JOIN mail_suppressions s ON s.email = u.email WHERE u.id IN ({})"
)
ORPHANED = (
    "UPDATE mail_outbox SET status = 'failed', claim = NULL,"
    " last_error = 'the registration no longer exists' WHERE claim = %s AND user_id IN ({})"
)


async def claim_due(db: Database, claim: str, limit: int, lease_seconds: float) -> list[OwedMail]:
    """Claim up to `limit` due rows for `lease_seconds` under the token `claim`.

    Rows claimed by another sender are skipped, not waited for. Each claim counts
    as an attempt. A row whose registration was deleted is failed at once.
    """
    # READ COMMITTED: the locking read takes no gap locks, so registrations'
    # hand-offs (INSERTs into the same index range) never wait on a claim.
    async with db.transaction(isolation="READ COMMITTED") as tx:
        due = await tx.fetch_all(SELECT_DUE, (limit,))
        # Locked by this transaction: this claim is attempt number attempts + 1.
        attempts = {str(user_id): int(n) + 1 for user_id, n in due}
        ids = list(attempts)
        if ids:
            lease = int(lease_seconds * 1_000_000)
            await tx.execute(CLAIM.format(_marks(len(ids))), (claim, lease, *ids))
    if not ids:
        return []
    rows = await db.fetch_all(REGISTRATIONS.format(_marks(len(ids))), ids)
    found = {str(row[0]): row for row in rows}
    if missing := [i for i in ids if i not in found]:
        await db.execute(ORPHANED.format(_marks(len(missing))), (claim, *missing))
    return [
        OwedMail(
            user_id=user_id,
            claim=claim,
            attempts=attempts[user_id],
            name=str(row[1]),
            email=str(row[2]),
            program=None if row[3] is None else str(row[3]),
            registered_at=row[4],
            suppressed=bool(row[5]),
        )
        for user_id, row in found.items()
    ]


async def mark_sent(db: Database, user_id: str, message_id: str) -> None:
    """Record the email as sent, whoever holds the claim now: it was sent."""
    await db.execute(
        "UPDATE mail_outbox SET status = 'sent', claim = NULL, message_id = %s,"
        " last_error = NULL, sent_at = UTC_TIMESTAMP(3) WHERE user_id = %s",
        (message_id[:255], user_id),
    )


async def mark_retry(db: Database, mail: OwedMail, delay_seconds: float, error: str) -> None:
    """Make the email due again in `delay_seconds`, if this claim still holds it."""
    await db.execute(
        "UPDATE mail_outbox SET claim = NULL, last_error = %s,"
        " due_at = UTC_TIMESTAMP(3) + INTERVAL %s MICROSECOND"
        " WHERE user_id = %s AND claim = %s AND status = 'pending'",
        (error[:MAX_ERROR_CHARS], int(delay_seconds * 1_000_000), mail.user_id, mail.claim),
    )


async def mark_failed(db: Database, mail: OwedMail, error: str) -> None:
    """Record a permanent refusal, if this claim still holds the email; never retried."""
    await db.execute(
        "UPDATE mail_outbox SET status = 'failed', claim = NULL, last_error = %s"
        " WHERE user_id = %s AND claim = %s AND status = 'pending'",
        (error[:MAX_ERROR_CHARS], mail.user_id, mail.claim),
    )


async def mark_suppressed(db: Database, mail: OwedMail) -> None:
    """Record that the email was not sent: its address is on the suppression list."""
    await db.execute(
        "UPDATE mail_outbox SET status = 'suppressed', claim = NULL,"
        " last_error = 'the address bounced or complained before'"
        " WHERE user_id = %s AND claim = %s AND status = 'pending'",
        (mail.user_id, mail.claim),
    )


MailEvent = Literal["bounced", "complained"]


async def mark_event(db: Database, message_id: str, event: MailEvent) -> int:
    """Mark the sent email SES calls `message_id` bounced or complained; rows changed.

    A complaint outranks a bounce; an email already complained about stays so.
    """
    return await db.execute(
        "UPDATE mail_outbox SET status = %s WHERE message_id = %s"
        " AND status IN ('sent', 'bounced')",
        (event, message_id[:255]),
    )


async def release(db: Database, mails: Sequence[OwedMail]) -> None:
    """Hand back claimed emails that were not tried: due now, the attempt not counted."""
    for mail in mails:
        await db.execute(
            "UPDATE mail_outbox SET claim = NULL, attempts = attempts - 1,"
            " due_at = UTC_TIMESTAMP(3) WHERE user_id = %s AND claim = %s AND status = 'pending'",
            (mail.user_id, mail.claim),
        )


# created_at is when the registration was handed to the outbox: the range of the stats.
MAIL_COUNTS = (
    "SELECT status, COUNT(*) FROM mail_outbox WHERE created_at >= %s AND created_at < %s"
    " GROUP BY status"
)


async def mail_counts(db: Database, since: datetime, before: datetime) -> MailCounts:
    """Confirmation emails owed for registrations in [since, before), by outcome."""
    rows = await db.fetch_all(MAIL_COUNTS, (since, before))
    counts = {str(status): int(n) for status, n in rows}
    return MailCounts(**{name: counts.get(name, 0) for name in MailCounts.__dataclass_fields__})


# Pending rows are few unless sending is stuck; the index's status prefix finds them.
BACKLOG = (
    "SELECT COUNT(*), TIMESTAMPDIFF(MICROSECOND, MIN(created_at), UTC_TIMESTAMP(3))"
    " FROM mail_outbox WHERE status = 'pending'"
)


async def backlog(db: Database) -> tuple[int, float]:
    """How many emails are pending, and the oldest one's age in seconds (0 when none)."""
    row = await db.fetch_one(BACKLOG)
    pending, age_us = (0, None) if row is None else row
    return int(pending), round(int(age_us or 0) / 1_000_000, 3)
