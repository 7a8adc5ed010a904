"""Confirmation emails end to end, in process: HTTP -> outbox -> SES (moto) or `.eml` files.

SES is moto's server behind tests/support/fake_ses.py, which can throttle or
fail on demand; moto's record of accepted emails is the count of deliveries.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from functools import partial
from pathlib import Path

import httpx
import pytest

from config.credentials import DirectCredentials
from config.settings import Settings
from mail.transports import mail_transport
from mail.worker import MailWorker, WorkerTimings
from models.db import Database
from models.migrations.runner import upgrade
from models.schema import CREATE_USERS_TABLE
from tests.support.app_client import SettingsFactory, serve
from tests.support.fake_ses import FakeSes, fake_ses
from tests.support.mail import outbox, row_if, wait_for_async
from tests.support.moto_aws import MotoAws
from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration, stored_registration, unique_email
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.anyio

SCHOOL = "Riverside College"


@pytest.fixture
def ses(aws: MotoAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSes]:
    """SES for this process's boto3: the fake endpoint, forwarding to moto by default."""
    with fake_ses(aws.endpoint) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", fake.url)
        yield fake


@pytest.fixture
def ses_settings(make_settings: SettingsFactory, moto: MotoAws, fresh_database: str) -> Settings:
    """Local mode on a database of this test's own, sending through SES from a verified sender."""
    return make_settings(
        db_name=fresh_database,
        mail_backend="ses",
        mail_from=moto.verified_sender(),
        school_name=SCHOOL,
    )


@pytest.fixture
async def client(ses: FakeSes, ses_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app, sending through the fake SES."""
    async with serve(ses_settings) as http:
        yield http


async def register(client: httpx.AsyncClient, **fields: str) -> dict[str, str]:
    answer = await client.post("/api/register", json=registration(**fields))
    assert answer.status_code == 201, answer.text
    body: dict[str, str] = answer.json()
    return body


async def test_a_registration_is_confirmed_by_one_email_through_ses(
    client: httpx.AsyncClient, moto: MotoAws, ses_settings: Settings, mysql: MySQLTarget
) -> None:
    user = await register(client, name="José O'Brien", program="engineering")

    [email] = await wait_for_async(
        lambda: moto.emails_to({user["email"]}), 10, "the email reaches moto"
    )
    assert email["source"] == ses_settings.mail_from
    assert email["destinations"]["ToAddresses"] == [user["email"]]
    assert email["subject"] == f"{SCHOOL}: we have received your application"
    for text in (SCHOOL, "Engineering", user["id"]):
        assert text in email["body"]
    row = await wait_for_async(
        lambda: row_if(mysql, ses_settings.db_name, user["id"], "sent"), 5, "the outbox records it"
    )
    assert (row["attempts"], row["message_id"], row["claim"]) == (1, email["id"], None)


async def test_throttling_is_retried_until_it_goes_once(
    client: httpx.AsyncClient, ses: FakeSes, moto: MotoAws, ses_settings: Settings,
    mysql: MySQLTarget,
) -> None:  # fmt: skip
    ses.script("throttle", "throttle")
    user = await register(client)

    await wait_for_async(lambda: moto.emails_to({user["email"]}), 15, "the email after retries")

    row = await wait_for_async(
        partial(row_if, mysql, ses_settings.db_name, user["id"], "sent"), 5, "recorded as sent"
    )
    assert row["attempts"] == 3
    assert ses.answered["throttle"] == 2
    assert len(moto.emails_to({user["email"]})) == 1


async def test_5xx_and_a_dropped_connection_are_retried(
    client: httpx.AsyncClient, ses: FakeSes, moto: MotoAws, ses_settings: Settings,
    mysql: MySQLTarget,
) -> None:  # fmt: skip
    ses.script("unavailable", "internal", "reset")
    user = await register(client)

    await wait_for_async(lambda: moto.emails_to({user["email"]}), 20, "the email after retries")

    row = await wait_for_async(
        partial(row_if, mysql, ses_settings.db_name, user["id"], "sent"), 5, "recorded as sent"
    )
    assert row["attempts"] == 4
    assert len(moto.emails_to({user["email"]})) == 1


async def test_a_permanent_rejection_is_recorded_and_never_retried(
    ses: FakeSes, make_settings: SettingsFactory, fresh_database: str, mysql: MySQLTarget
) -> None:
    # moto, like SES, rejects a sender whose identity is not verified.
    settings = make_settings(
        db_name=fresh_database, mail_backend="ses", mail_from="a@not-verified.example.edu"
    )
    async with serve(settings) as client:
        user = await register(client)
        failed = partial(row_if, mysql, fresh_database, user["id"], "failed")
        row = await wait_for_async(failed, 10, "the rejection is recorded")
        assert "MessageRejected" in row["last_error"]
        assert "not-verified.example.edu" in row["last_error"]
        assert (await client.get("/health/ready")).status_code == 200
        await register(client)  # registrations go on
        # A retry would come within 1 s (the first backoff step): none comes.
        await asyncio.sleep(3)
    assert row["attempts"] == 1
    assert [r["attempts"] for r in outbox(mysql, fresh_database).values()] == [1, 1]
    assert ses.answered["forward"] == 2  # one try each, none again


async def test_locally_the_email_is_an_eml_file_to_open(
    make_settings: SettingsFactory, fresh_database: str, tmp_path: Path
) -> None:
    # A database of its own: the session's holds other tests' emails, sent first.
    async with serve(make_settings(db_name=fresh_database)) as client:
        user = await register(client, name="Ada Lovelace")
        path = tmp_path / "mail" / f"{user['id']}.eml"
        await wait_for_async(path.exists, 10, "the .eml file")
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == user["email"]
    assert "Dear applicant," in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_the_first_deployment_emails_none_of_the_existing_applicants(
    make_settings: SettingsFactory, fresh_database: str, mysql: MySQLTarget, tmp_path: Path
) -> None:
    mysql.execute(CREATE_USERS_TABLE, database=fresh_database)
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    for created_at in ("2023-09-01 08:30:00", now):
        mysql.execute(
            "INSERT INTO users (id, name, email, phone, program, created_at)"
            " VALUES (%s, 'Old Applicant', %s, '5551234567', 'arts', %s)",
            (str(uuid.uuid4()), unique_email(), created_at),
            database=fresh_database,
        )
    mysql.execute("DO SLEEP(1.1)")  # the migration's start marker is a later second

    async with serve(make_settings(db_name=fresh_database)) as client:
        user = await register(client)
        await wait_for_async((tmp_path / "mail" / f"{user['id']}.eml").exists, 10, "new email")

    assert [p.name for p in (tmp_path / "mail").iterdir()] == [f"{user['id']}.eml"]
    assert list(outbox(mysql, fresh_database)) == [user["id"]]


@pytest.fixture
async def sender_db(make_settings: SettingsFactory, fresh_database: str) -> AsyncIterator[Database]:
    settings = make_settings(db_name=fresh_database)
    upgrade(DirectCredentials(settings).current(), settings)
    database = Database(settings, DirectCredentials(settings))
    yield database
    await database.close()


async def test_an_ses_outage_of_any_length_loses_no_email_and_sends_each_once(
    ses: FakeSes, ses_settings: Settings, sender_db: Database, moto: MotoAws, mysql: MySQLTarget
) -> None:
    # The sender alone, with retries capped at 1 s: many failed rounds in a few seconds.
    # Never "saturated": this test's own polling shares the process.
    transport = mail_transport(ses_settings)
    assert transport is not None
    timings = WorkerTimings(poll_seconds=0.2, retry_cap_seconds=1.0, busy_above=1.0)
    sender = MailWorker(sender_db, ses_settings, transport, timings)
    ses.mode = "unavailable"
    sender.start()
    try:
        users = []
        for _ in range(10):
            user = await stored_registration(sender_db, name="Ada")
            sender.registered(user.id)
            users.append(user)
        await wait_for_async(
            # `attempts` counts claims; a claimed attempt is a failure once SES has answered.
            lambda: (
                all(r["attempts"] >= 4 for r in outbox(mysql, ses_settings.db_name).values())
                and len(outbox(mysql, ses_settings.db_name)) == 10
                and ses.answered["unavailable"] >= 40
            ),
            30,
            "every email failed four times",
        )
        ses.mode = "forward"
        emails = {u.email for u in users}
        await wait_for_async(
            lambda: len(moto.emails_to(emails)) >= 10, 15, "every email after the outage"
        )
    finally:
        await sender.stop()
    delivered = [e["destinations"]["ToAddresses"][0] for e in moto.emails_to(emails)]
    assert sorted(delivered) == sorted(emails)  # each exactly once
    assert {r["status"] for r in outbox(mysql, ses_settings.db_name).values()} == {"sent"}
    assert ses.answered["unavailable"] >= 40


async def test_the_sender_rides_out_a_database_outage(
    make_settings: SettingsFactory, fresh_database: str, mysql: MySQLTarget, tmp_path: Path
) -> None:
    with TcpProxy(mysql.host, mysql.port) as proxy:
        settings = make_settings(db_host=proxy.host, db_port=proxy.port, db_name=fresh_database)
        async with serve(settings) as client:
            before = await register(client)
            await wait_for_async((tmp_path / "mail" / f"{before['id']}.eml").exists, 10, "email")
            proxy.refuse()
            await asyncio.sleep(3)  # the sender's rounds fail meanwhile
            proxy.forward()
            for _ in range(100):
                answer = await client.post("/api/register", json=registration())
                if answer.status_code == 201:
                    break
                await asyncio.sleep(0.1)
            assert answer.status_code == 201, answer.text
            after = answer.json()
            await wait_for_async(
                (tmp_path / "mail" / f"{after['id']}.eml").exists, 40, "email after the outage"
            )
    assert {row["status"] for row in outbox(mysql, fresh_database).values()} == {"sent"}


def test_retries_wait_longer_each_time_with_jitter_and_a_cap() -> None:
    timings = WorkerTimings(retry_base_seconds=1.0, retry_cap_seconds=900.0)
    for attempts, step in [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (20, 900.0)]:
        delays = [timings.retry_delay(attempts) for _ in range(200)]
        assert all(step / 2 <= d <= step for d in delays), (attempts, min(delays), max(delays))
        assert len(set(delays)) > 100  # jittered: senders throttled together spread out


def test_a_failing_loop_waits_twice_as_long_each_round_up_to_30_s() -> None:
    waits = [WorkerTimings().outage_wait(failures) for failures in range(1, 7)]
    assert waits == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


async def test_below_one_email_a_minute_a_claim_outlasts_its_wait_for_the_rate(
    make_settings: SettingsFactory, fresh_database: str, mysql: MySQLTarget
) -> None:
    # At one email every 2 minutes the second waits 2 minutes after its claim: a
    # 60 s lease would let another worker claim and send it too.
    settings = make_settings(db_name=fresh_database, mail_rate=1 / 120)
    async with serve(settings) as client:
        first = await register(client)
        await wait_for_async(
            lambda: row_if(mysql, fresh_database, first["id"], "sent"), 10, "the first email"
        )
        second = await register(client)

        def claimed() -> list[tuple[object, ...]]:
            return mysql.execute(
                "SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(3), due_at) FROM mail_outbox"
                " WHERE user_id = %s AND claim IS NOT NULL",
                (second["id"],),
                database=fresh_database,
            )

        await wait_for_async(lambda: bool(claimed()), 10, "the second email's claim")
        [(lease_left,)] = claimed()
    assert int(str(lease_left)) > 120 + 5  # the wait for its turn, and the send after it


async def test_registrations_that_keep_coming_are_recorded_in_batches_and_emails_still_go(
    make_settings: SettingsFactory,
    fresh_database: str,
    sender_db: Database,
    mysql: MySQLTarget,
    tmp_path: Path,
) -> None:
    # A busy hour: hand-offs every millisecond, each ahead of the INSERT recording the last.
    settings = make_settings(db_name=fresh_database)
    transport = mail_transport(settings)
    assert transport is not None
    sender = MailWorker(sender_db, settings, transport, WorkerTimings(busy_above=1.0))
    first = await stored_registration(sender_db, name="Ada")
    sender.registered(first.id)
    handed = [first.id]

    def hand_off(count: int) -> None:
        # Not yet stored, and from one address: their emails fall due a second apart.
        for _ in range(count):
            handed.append(str(uuid.uuid4()))
            sender.registered(handed[-1], "192.0.2.1")

    hand_off(50)
    sender.start()
    try:
        eml = tmp_path / "mail" / f"{first.id}.eml"
        deadline = time.monotonic() + 10
        while not eml.exists() and time.monotonic() < deadline:
            hand_off(1)
            await asyncio.sleep(0)  # one a turn of the loop: some arrive during every INSERT
        assert eml.exists(), "no email sent while hand-offs kept coming"
    finally:
        await sender.stop()
    assert sorted(outbox(mysql, fresh_database)) == sorted(handed)  # every one recorded
    # The rows of one INSERT share its statement's time (UTC_TIMESTAMP(3)).
    [(inserts,)] = mysql.execute(
        "SELECT COUNT(DISTINCT created_at) FROM mail_outbox", database=fresh_database
    )
    assert int(inserts) <= len(handed) / 20, (inserts, len(handed))  # gathered, not one each
