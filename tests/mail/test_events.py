"""Bounces and complaints through the stack's path, on moto's server: SES v2 sends,
the SES event (AWS's documented shape) goes to SNS, SNS to SQS (raw delivery off),
and the mail worker reads the queue, marks the outbox, suppresses the address."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from functools import partial
from typing import Any

import pytest

from config.credentials import DirectCredentials
from config.errors import MailEventUnreadable
from config.settings import Settings
from mail.events import read_event
from models import mail_outbox
from models.db import Database
from tests.support.app_client import SettingsFactory, serve
from tests.support.mail import row_if, wait_for_async
from tests.support.moto_aws import MotoAws
from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration, unique_email

pytestmark = pytest.mark.anyio


def ses_event(kind: str, message_id: str, recipients: list[str], **section: Any) -> str:
    """An SES event as SES publishes it to SNS ("Contents of event data", AWS docs)."""
    mail = {
        "timestamp": "2026-11-21T06:21:33.000Z",
        "source": "admissions@example.edu",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/example.edu",
        "sendingAccountId": "123456789012",
        "messageId": message_id,
        "destination": recipients,
        "headersTruncated": False,
        "tags": {"ses:configuration-set": ["schoolapp-events"]},
    }
    if kind == "Bounce":
        detail = {
            "bounceType": section.get("bounceType", "Permanent"),
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": r,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
                for r in recipients
            ],
            "timestamp": "2026-11-21T06:21:34.000Z",
            "feedbackId": "0100017-bounce",
            "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
        }
        return json.dumps({"eventType": "Bounce", "bounce": detail, "mail": mail})
    detail = {
        "complainedRecipients": [{"emailAddress": r} for r in recipients],
        "timestamp": "2026-11-21T06:25:00.000Z",
        "feedbackId": "0100017-complaint",
        "userAgent": "Mozilla/5.0",
        "complaintFeedbackType": "abuse",
        "arrivalDate": "2026-11-21T06:24:59.000Z",
    }
    return json.dumps({"eventType": "Complaint", "complaint": detail, "mail": mail})


@pytest.fixture
def queue(aws: MotoAws) -> tuple[str, str]:
    """(topic ARN, queue URL): an SNS topic with an SQS queue subscribed, raw delivery off."""
    sqs, sns = aws.client("sqs"), aws.client("sns")
    url = sqs.create_queue(QueueName=f"mail-events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = sns.create_topic(Name=f"mail-events-{uuid.uuid4().hex[:8]}")["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "false"},
    )
    return topic, url


@pytest.fixture
def events_settings(
    make_settings: SettingsFactory, aws: MotoAws, fresh_database: str, queue: tuple[str, str]
) -> Settings:
    return make_settings(
        db_name=fresh_database,
        mail_backend="ses",
        mail_from=aws.verified_sender(),
        mail_events_queue_url=queue[1],
    )


def queued(aws: MotoAws, url: str) -> int:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


async def test_a_bounce_through_sqs_marks_the_email_suppresses_the_address_and_is_deleted(
    events_settings: Settings,
    aws: MotoAws,
    queue: tuple[str, str],
    mysql: MySQLTarget,
    fresh_database: str,
) -> None:
    topic, url = queue
    sns = aws.client("sns")
    later = unique_email()
    async with serve(events_settings) as client:
        bounced = (await client.post("/api/register", json=registration())).json()
        complained = (await client.post("/api/register", json=registration())).json()
        sent = [
            await wait_for_async(partial(row_if, mysql, fresh_database, u, "sent"), 15, "sent")
            for u in (bounced["id"], complained["id"])
        ]
        sns.publish(
            TopicArn=topic,
            Message=ses_event("Bounce", sent[0]["message_id"], [bounced["email"]]),
        )
        sns.publish(
            TopicArn=topic,
            Message=ses_event("Complaint", sent[1]["message_id"], [complained["email"]]),
        )
        # A permanent bounce naming an address that registers only later.
        sns.publish(TopicArn=topic, Message=ses_event("Bounce", "unknown-id", [later]))
        await wait_for_async(
            lambda: row_if(mysql, fresh_database, bounced["id"], "bounced"), 15, "bounced"
        )
        await wait_for_async(
            lambda: row_if(mysql, fresh_database, complained["id"], "complained"), 15, "complained"
        )
        await wait_for_async(lambda: queued(aws, url) == 0 or None, 15, "the queue emptied")

        suppressed = (await client.post("/api/register", json=registration(email=later))).json()
        await wait_for_async(
            lambda: row_if(mysql, fresh_database, suppressed["id"], "suppressed"),
            15,
            "never sent",
        )
    database = Database(events_settings, DirectCredentials(events_settings))
    await database.start()
    try:
        # Every row of this test's own database: the widest range.
        stats = await mail_outbox.mail_counts(database, datetime(2000, 1, 1), datetime(3000, 1, 1))
    finally:
        await database.close()

    assert aws.emails_to({later}) == []
    listed = mysql.execute(
        "SELECT email, reason FROM mail_suppressions ORDER BY reason", database=fresh_database
    )
    assert sorted(listed) == sorted(
        [(bounced["email"], "bounce"), (later, "bounce"), (complained["email"], "complaint")]
    )
    assert (stats.bounced, stats.complained, stats.suppressed) == (1, 1, 1)


def test_transient_bounces_mark_but_do_not_suppress() -> None:
    envelope = json.dumps(
        {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "Message": ses_event("Bounce", "m-1", ["a@example.com"], bounceType="Transient"),
        }
    )
    record = read_event(envelope)
    assert record is not None
    assert (record.event, record.message_id, record.suppress) == ("bounced", "m-1", ())


def test_an_unreadable_message_is_refused_and_a_delivery_ignored() -> None:
    with pytest.raises(MailEventUnreadable):
        read_event("not json")
    delivery = json.dumps(
        {"Type": "Notification", "Message": json.dumps({"eventType": "Delivery", "mail": {}})}
    )
    assert read_event(delivery) is None
