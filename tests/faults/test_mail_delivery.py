"""Confirmation emails across process deaths, restarts, stops and a second task.

Each test runs the real `python index.py` (tests/support/service_process.py)
against the real database; SES is moto behind the fake endpoint of
tests/support/fake_ses.py, and moto's record of accepted emails is the count
of deliveries.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.support.fake_ses import FakeSes, fake_ses
from tests.support.mail import outbox, wait_for
from tests.support.moto_aws import MotoAws
from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration
from tests.support.service_process import ServiceProcess

# A claim left by a killed task falls due after its lease (WorkerTimings.lease_seconds).
LEASE_SECONDS = 60


@pytest.fixture
def ses(moto: MotoAws) -> Iterator[FakeSes]:
    with fake_ses(moto.endpoint) as fake:
        yield fake


def ses_environment(
    mysql: MySQLTarget, database: str, moto: MotoAws, ses: FakeSes
) -> dict[str, str]:
    """A local-mode service on `database` sending through the fake SES."""
    return {
        **mysql.environment(database),
        **moto.environment,
        "AWS_ENDPOINT_URL_SESV2": ses.url,
        "MAIL_BACKEND": "ses",
        "MAIL_FROM": moto.verified_sender(),
    }


def register(service: ServiceProcess) -> dict[str, str]:
    answer = httpx.post(f"{service.base_url}/api/register", json=registration(), timeout=10)
    assert answer.status_code == 201, answer.text
    body: dict[str, str] = answer.json()
    return body


def delivered(moto: MotoAws, users: list[dict[str, str]]) -> list[str]:
    """The address of every accepted email to one of `users`, once per delivery."""
    emails = {user["email"] for user in users}
    return sorted(e["destinations"]["ToAddresses"][0] for e in moto.emails_to(emails))


def test_a_service_killed_between_commit_and_send_sends_once_after_restart(
    mysql: MySQLTarget, fresh_database: str, moto: MotoAws, ses: FakeSes, tmp_path: Path
) -> None:
    environment = ses_environment(mysql, fresh_database, moto, ses)
    ses.mode = "unavailable"
    first = ServiceProcess(environment, tmp_path / "first.log").start()
    try:
        # One registration recorded in the outbox, its sends failing...
        recorded = register(first)
        wait_for(
            lambda: outbox(mysql, fresh_database).get(recorded["id"], {}).get("attempts", 0) >= 3,
            30,
            "three failed sends",
        )
        with closing(mysql.connect(fresh_database)) as locker, locker.cursor() as cursor:
            # ...and one committed while the outbox cannot be written: the process
            # dies between the commit and the outbox row.
            cursor.execute("LOCK TABLES mail_outbox WRITE")
            unrecorded = register(first)
            time.sleep(0.5)
            first.kill()
            # The server drops the dead process's connections (their statements
            # were waiting on the lock) before the lock goes.
            cursor.execute(
                "SELECT id FROM information_schema.processlist"
                " WHERE db = %s AND id <> CONNECTION_ID()",
                (fresh_database,),
            )
            for (connection_id,) in cursor.fetchall():
                cursor.execute(f"KILL {int(connection_id)}")
            cursor.execute("UNLOCK TABLES")
    finally:
        first.stop()
    rows = outbox(mysql, fresh_database)
    assert unrecorded["id"] not in rows
    assert rows[recorded["id"]]["status"] == "pending"
    assert delivered(moto, [recorded, unrecorded]) == []

    ses.mode = "forward"
    with ServiceProcess(environment, tmp_path / "second.log") as second:
        wait_for(
            lambda: len(delivered(moto, [recorded, unrecorded])) >= 2,
            LEASE_SECONDS + 30,
            "both emails after the restart",
        )
        time.sleep(2)  # a duplicate would come now
        log = second.log()

    assert delivered(moto, [recorded, unrecorded]) == sorted(
        [recorded["email"], unrecorded["email"]]
    )
    assert {row["status"] for row in outbox(mysql, fresh_database).values()} == {"sent"}
    assert "recorded 1 registrations that had no email recorded" in log


def test_two_services_on_one_database_send_each_email_once_through_an_outage(
    mysql: MySQLTarget, fresh_database: str, moto: MotoAws, ses: FakeSes, tmp_path: Path
) -> None:
    environment = ses_environment(mysql, fresh_database, moto, ses)
    ses.mode = "unavailable"
    with (
        ServiceProcess(environment, tmp_path / "one.log") as one,
        ServiceProcess(environment, tmp_path / "two.log") as two,
    ):
        users = [register(one if n % 2 else two) for n in range(30)]
        wait_for(
            lambda: (
                len(rows := outbox(mysql, fresh_database)) == 30
                and all(r["attempts"] >= 2 for r in rows.values())
            ),
            60,
            "every email failed twice",
        )
        ses.mode = "forward"
        wait_for(lambda: len(delivered(moto, users)) >= 30, 60, "every email after the outage")
        time.sleep(2)  # a duplicate would come now
        sent_by = [s.log().count("confirmation email sent") for s in (one, two)]

    assert delivered(moto, users) == sorted(user["email"] for user in users)
    assert sum(sent_by) == 30
    print(f"emails sent by each service: {sent_by}; SES answers: {dict(ses.answered)}")


def test_a_stopped_service_hands_back_its_backlog_and_the_next_start_sends_it(
    mysql: MySQLTarget, fresh_database: str, tmp_path: Path
) -> None:
    # `.eml` files at 2 a second: most of 20 emails are still owed at the stop.
    environment = {**mysql.environment(fresh_database), "MAIL_RATE": "2"}
    mail_dir = tmp_path / "mail"
    service = ServiceProcess(environment, tmp_path / "first.log").start()
    try:
        users = [register(service) for _ in range(20)]
        signalled = time.monotonic()
        service.terminate()
        code = service.wait(30)
        stopped_in = time.monotonic() - signalled
    finally:
        service.stop()
    rows = outbox(mysql, fresh_database)
    assert code in (0, -15, 143), service.log()  # uvicorn re-raises SIGTERM once done
    assert stopped_in < 10
    assert set(rows) == {user["id"] for user in users}  # every hand-off recorded
    assert all(row["claim"] is None for row in rows.values())  # nothing left claimed
    sent = {user_id for user_id, row in rows.items() if row["status"] == "sent"}
    assert {p.stem for p in mail_dir.iterdir()} == sent
    assert len(sent) < 20
    assert all(row["attempts"] == 0 for row in rows.values() if row["status"] == "pending")

    environment["MAIL_RATE"] = "50"
    with ServiceProcess(environment, tmp_path / "second.log"):
        wait_for(
            lambda: all(r["status"] == "sent" for r in outbox(mysql, fresh_database).values()),
            30,
            "the backlog sent",
        )
    assert {p.stem for p in mail_dir.iterdir()} == {user["id"] for user in users}
    assert {row["attempts"] for row in outbox(mysql, fresh_database).values()} == {1}
