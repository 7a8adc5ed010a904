"""What became of one claimed email, written to the outbox and the log."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from config.redact import mask_email
from models import mail_outbox
from models.db import Database
from models.mail_outbox import OwedMail

logger = logging.getLogger("schoolapp.mail")


class Result(Enum):
    """What became of one claimed email."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    RELEASED = "released"  # not tried: the sender is stopping


@dataclass(frozen=True, slots=True)
class Outcome:
    """One claimed email's result, to be recorded in the outbox."""

    mail: OwedMail
    result: Result
    detail: str = ""  # the message id when sent, else the error
    delay_seconds: float = 0.0


async def record(db: Database, outcome: Outcome) -> None:
    """Write `outcome` to the outbox (a released email is due again at once)."""
    mail = outcome.mail
    if outcome.result is Result.SENT:
        await mail_outbox.mark_sent(db, mail.user_id, outcome.detail)
    elif outcome.result is Result.RETRY:
        await mail_outbox.mark_retry(db, mail, outcome.delay_seconds, outcome.detail)
    elif outcome.result is Result.FAILED:
        await mail_outbox.mark_failed(db, mail, outcome.detail)
    else:
        await mail_outbox.release(db, [mail])


def log(outcome: Outcome) -> None:
    """One log line for `outcome`: the user id and the masked address, never the address."""
    mail = outcome.mail
    fields = {"user_id": mail.user_id, "email": mask_email(mail.email), "attempt": mail.attempts}
    if outcome.result is Result.SENT:
        logger.info("confirmation email sent", extra={**fields, "message_id": outcome.detail})
    elif outcome.result is Result.RETRY:
        logger.warning(
            "confirmation email not sent, retrying in %.1f s: %s",
            outcome.delay_seconds,
            outcome.detail,
            extra=fields,
        )
    elif outcome.result is Result.FAILED:
        logger.error("confirmation email refused for good: %s", outcome.detail, extra=fields)
