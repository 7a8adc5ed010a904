"""The confirmation-email sender built from the MAIL_* settings."""

from __future__ import annotations

from config.cpu_load import CpuLoad
from config.mail_transport import Transport
from config.settings import Settings
from controllers.mail_delivery import Delivery
from controllers.mail_message import ConfirmationEmail
from controllers.mail_sender import MailSender
from controllers.mail_timings import SenderTimings
from models.db import Database


def build_mail_sender(
    db: Database, settings: Settings, transport: Transport, timings: SenderTimings | None = None
) -> MailSender:
    """The sender for MAIL_* settings; reads and checks the templates (ConfigError)."""
    timings = timings or SenderTimings()
    load = CpuLoad(busy_above=timings.busy_above)
    delivery = Delivery(
        transport,
        ConfirmationEmail(settings),
        load,
        rate=settings.mail_rate,
        concurrency=settings.mail_concurrency,
        retry_base=timings.retry_base_seconds,
        retry_cap=timings.retry_cap_seconds,
    )
    # A batch needs at most about 10 s of pacing: far inside its lease.
    batch = max(1, min(2 * settings.mail_concurrency, int(settings.mail_rate * 10)))
    return MailSender(db, delivery, load, batch=batch, timings=timings)
