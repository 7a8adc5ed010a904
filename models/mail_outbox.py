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


def _marks(count: int) -> str:
    return ", ".join(["%s"] * count)


# Not INSERT IGNORE: that would also pass over bad data, and warn on every duplicate.
ADD = (
    "INSERT INTO mail_outbox (user_id, status, due_at, created_at) VALUES {}"
    " ON DUPLICATE KEY UPDATE user_id = user_id"
)
ADD_ROW = "(%s, 'pending', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))"


async def add(db: Database, user_ids: Sequence[str]) -> None:
    """Record that each of these committed registrations is owed an email, due now.

    Ids already recorded are left alone, so any number of callers may add one id.
    """
    if not user_ids:
        return
    await db.execute(ADD.format(", ".join([ADD_ROW] * len(user_ids))), user_ids)


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
REGISTRATIONS = "SELECT id, name, email, program, created_at FROM users WHERE id IN ({})"
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
