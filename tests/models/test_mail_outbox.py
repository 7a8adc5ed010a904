"""The outbox table on the real server: claims, leases, fencing, reconciliation, counts."""

from __future__ import annotations

import asyncio
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest

from models import mail_outbox
from models.db import Database
from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import stored_registration

pytestmark = pytest.mark.anyio
# Every outbox row of a test: the counts take a range.
ALL_TIME = (datetime(2000, 1, 1), datetime(2100, 1, 1))


@pytest.fixture
def db(migrated_db: Database) -> Database:
    return migrated_db


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0, tzinfo=None)


async def registered(db: Database, created_at: datetime | None = None) -> str:
    return (await stored_registration(db, created_at=created_at)).id


async def test_a_recorded_email_is_claimed_once_then_sent(db: Database) -> None:
    user_id = await registered(db)
    await mail_outbox.add(db, [user_id])
    await mail_outbox.add(db, [user_id])  # a second hand-off of the same id changes nothing

    [owed] = await mail_outbox.claim_due(db, "claim-1", 10, lease_seconds=60)
    assert (owed.user_id, owed.attempts, owed.name, owed.program) == (
        user_id, 1, "Ada Lovelace", "arts"
    )  # fmt: skip
    assert await mail_outbox.claim_due(db, "claim-2", 10, lease_seconds=60) == []
    assert await mail_outbox.mail_counts(db, *ALL_TIME) == mail_outbox.MailCounts(
        pending=1, sent=0, failed=0
    )

    await mail_outbox.mark_sent(db, user_id, "ses-message-1")

    assert await mail_outbox.mail_counts(db, *ALL_TIME) == mail_outbox.MailCounts(
        pending=0, sent=1, failed=0
    )
    assert await db.fetch_one(
        "SELECT message_id, claim FROM mail_outbox WHERE user_id = %s", (user_id,)
    ) == ("ses-message-1", None)


async def test_rows_locked_by_another_claim_are_skipped_not_waited_for(
    db: Database, mysql: MySQLTarget, fresh_database: str
) -> None:
    ids = [await registered(db) for _ in range(6)]
    await mail_outbox.add(db, ids)
    with closing(mysql.connect(fresh_database)) as other, other.cursor() as cursor:
        # Another task's claim, caught mid-transaction: it holds three rows.
        cursor.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        cursor.execute("BEGIN")
        cursor.execute(mail_outbox.SELECT_DUE, (3,))
        held = {row[0] for row in cursor.fetchall()}

        started = time.monotonic()
        claimed = await mail_outbox.claim_due(db, "mine", 10, lease_seconds=60)
        waited = time.monotonic() - started
        cursor.execute("ROLLBACK")

    assert {o.user_id for o in claimed} == set(ids) - held
    assert waited < 1.0


async def test_a_claim_never_blocks_a_registrations_hand_off(
    db: Database, mysql: MySQLTarget, fresh_database: str
) -> None:
    await mail_outbox.add(db, [await registered(db) for _ in range(3)])
    with closing(mysql.connect(fresh_database)) as other, other.cursor() as cursor:
        # A claim as the sender makes it, held open: READ COMMITTED takes no gap
        # locks, so a new row in the same index range goes in at once.
        cursor.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        cursor.execute("BEGIN")
        cursor.execute(mail_outbox.SELECT_DUE, (10,))
        new_id = await registered(db)
        async with asyncio.timeout(2):
            await mail_outbox.add(db, [new_id])
        cursor.execute("ROLLBACK")
    assert (await mail_outbox.mail_counts(db, *ALL_TIME)).pending == 4


async def test_a_lapsed_lease_makes_the_email_due_and_fences_the_old_claim(db: Database) -> None:
    user_id = await registered(db)
    await mail_outbox.add(db, [user_id])
    [first] = await mail_outbox.claim_due(db, "dead-task", 10, lease_seconds=0.3)
    assert await mail_outbox.claim_due(db, "other", 10, lease_seconds=60) == []

    await asyncio.sleep(0.5)
    [second] = await mail_outbox.claim_due(db, "other", 10, lease_seconds=60)

    assert second.attempts == 2
    # The first claimant wakes up late: its verdicts no longer apply.
    await mail_outbox.mark_failed(db, first, "late")
    await mail_outbox.mark_retry(db, first, 0, "late")
    await mail_outbox.release(db, [first])
    assert await db.fetch_one(
        "SELECT status, claim, last_error FROM mail_outbox WHERE user_id = %s", (user_id,)
    ) == ("pending", "other", None)


async def test_a_retry_waits_its_delay_and_a_failure_is_final(db: Database) -> None:
    retried, failed = await registered(db), await registered(db)
    await mail_outbox.add(db, [retried, failed])
    claimed = {o.user_id: o for o in await mail_outbox.claim_due(db, "c", 10, 60)}

    await mail_outbox.mark_retry(db, claimed[retried], 0.4, "SES TooManyRequestsException")
    await mail_outbox.mark_failed(db, claimed[failed], "SES MessageRejected")

    assert await mail_outbox.claim_due(db, "c2", 10, 60) == []
    await asyncio.sleep(0.6)
    [again] = await mail_outbox.claim_due(db, "c3", 10, 60)
    assert (again.user_id, again.attempts) == (retried, 2)
    assert await mail_outbox.mail_counts(db, *ALL_TIME) == mail_outbox.MailCounts(
        pending=1, sent=0, failed=1
    )
    assert await db.fetch_one(
        "SELECT last_error FROM mail_outbox WHERE user_id = %s", (failed,)
    ) == ("SES MessageRejected",)


async def test_a_released_email_is_due_at_once_and_its_attempt_not_counted(db: Database) -> None:
    user_id = await registered(db)
    await mail_outbox.add(db, [user_id])
    claimed = await mail_outbox.claim_due(db, "stopping", 10, 60)

    await mail_outbox.release(db, claimed)

    [again] = await mail_outbox.claim_due(db, "next", 10, 60)
    assert again.attempts == 1


async def test_an_email_whose_registration_is_gone_fails(db: Database) -> None:
    user_id = await registered(db)
    await mail_outbox.add(db, [user_id])
    await db.execute("DELETE FROM users WHERE id = %s", (user_id,))

    assert await mail_outbox.claim_due(db, "c", 10, 60) == []
    assert await mail_outbox.mail_counts(db, *ALL_TIME) == mail_outbox.MailCounts(
        pending=0, sent=0, failed=1
    )


async def test_reconciliation_finds_recent_registrations_without_a_row(db: Database) -> None:
    # Emails started a month ago; the window is a week.
    await db.execute("UPDATE mail_outbox_start SET started_at = %s", (now() - timedelta(days=30),))
    recorded = await registered(db)
    await mail_outbox.add(db, [recorded])
    unrecorded = await registered(db, now() - timedelta(days=6))
    await registered(db, now() - timedelta(days=8))

    found = await mail_outbox.find_unrecorded(db, window_seconds=7 * 24 * 3600, limit=100)

    assert found == [unrecorded]


async def test_registrations_from_before_the_outbox_are_never_found(db: Database) -> None:
    row = await db.fetch_one("SELECT started_at FROM mail_outbox_start")
    assert row is not None
    started = row[0]
    await registered(db, started - timedelta(seconds=1))
    await registered(db, started - timedelta(days=2))

    assert await mail_outbox.find_unrecorded(db, window_seconds=7 * 24 * 3600, limit=100) == []
