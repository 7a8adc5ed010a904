"""SES's bounce and complaint events, as the stack delivers them: SQS messages whose
body is SNS's envelope (raw delivery off), whose `Message` is SES's event document.

`MailEventsQueue` long-polls the queue (boto3 blocks: the worker runs it in a
thread of its own) and deletes a message once the worker has recorded it;
`read_event` turns a body into what the worker records. Documents follow AWS's
"Contents of event data that Amazon SES publishes to Amazon SNS" (`eventType`),
and the older identity notifications (`notificationType`) read the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from config.errors import MailEventUnreadable
from config.settings import Settings
from models.mail_outbox import MailEvent
from models.mail_suppressions import Reason

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# Long-poll length: short enough that stopping waits for at most one poll.
WAIT_SECONDS = 5
BATCH = 10
_CONNECT_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """One SQS message: its body and what deletes it."""

    body: str
    receipt_handle: str


@dataclass(frozen=True, slots=True)
class MailEventRecord:
    """What one SES event asks of us: mark the email, suppress addresses (maybe none)."""

    event: MailEvent
    message_id: str
    suppress: tuple[str, ...]
    reason: Reason


def read_event(body: str) -> MailEventRecord | None:
    """The record for an SNS-wrapped SES event; None for events we do not act on
    (deliveries, SNS's own notices). MailEventUnreadable when it is not one."""
    envelope = _json_object(body, "the SQS body")
    if envelope.get("Type") != "Notification":
        return None
    document = _json_object(envelope.get("Message"), "the SNS Message")
    kind = document.get("eventType") or document.get("notificationType")
    mail = document.get("mail")
    message_id = mail.get("messageId") if isinstance(mail, dict) else None
    if kind not in ("Bounce", "Complaint"):
        return None
    if not isinstance(message_id, str) or not message_id:
        raise MailEventUnreadable(f"a {kind} event without mail.messageId")
    if kind == "Bounce":
        bounce = _section(document, "bounce")
        # Transient and Undetermined bounces may deliver later: marked, not suppressed.
        permanent = bounce.get("bounceType") == "Permanent"
        addresses = _addresses(bounce, "bouncedRecipients") if permanent else ()
        return MailEventRecord("bounced", message_id, addresses, "bounce")
    complaint = _section(document, "complaint")
    addresses = _addresses(complaint, "complainedRecipients")
    return MailEventRecord("complained", message_id, addresses, "complaint")


def _json_object(text: Any, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise MailEventUnreadable(f"{what} is not a JSON object")
    return value


def _section(document: dict[str, Any], name: str) -> dict[str, Any]:
    section = document.get(name)
    if not isinstance(section, dict):
        raise MailEventUnreadable(f"an event without its {name} object")
    return section


def _addresses(section: dict[str, Any], name: str) -> tuple[str, ...]:
    recipients = section.get(name)
    if not isinstance(recipients, list):
        raise MailEventUnreadable(f"an event without {name}")
    return tuple(
        r["emailAddress"].strip()
        for r in recipients
        if isinstance(r, dict) and isinstance(r.get("emailAddress"), str)
    )


class MailEventsQueue:
    """The SQS queue of MAIL_EVENTS_QUEUE_URL; blocking calls, bounded in time."""

    def __init__(self, settings: Settings) -> None:
        import boto3  # noqa: PLC0415 (only a task with the queue pays its import)
        from botocore.config import Config  # noqa: PLC0415

        assert settings.mail_events_queue_url is not None
        self._url = settings.mail_events_queue_url
        session = boto3.session.Session(region_name=settings.aws_region)
        self._client: SQSClient = session.client(
            "sqs",
            config=Config(
                connect_timeout=_CONNECT_TIMEOUT_SECONDS,
                # The long poll holds the answer back for up to WAIT_SECONDS.
                read_timeout=WAIT_SECONDS + 5,
                retries={"mode": "standard", "total_max_attempts": 2},
            ),
        )

    def receive(self) -> list[QueuedMessage]:
        """Up to BATCH messages, waiting at most WAIT_SECONDS for the first."""
        answer = self._client.receive_message(
            QueueUrl=self._url, MaxNumberOfMessages=BATCH, WaitTimeSeconds=WAIT_SECONDS
        )
        return [
            QueuedMessage(m["Body"], m["ReceiptHandle"])
            for m in answer.get("Messages", [])
            if "Body" in m and "ReceiptHandle" in m
        ]

    def delete(self, message: QueuedMessage) -> None:
        """Delete a message that has been recorded."""
        self._client.delete_message(QueueUrl=self._url, ReceiptHandle=message.receipt_handle)
