"""The confirmation emails: the outbox worker, the message and its templates, the transports.

`build_mail_worker` is what the app needs; the rest is here for tests and tools.
Nothing under config/ or models/ imports this package.
"""

from mail.message import ConfirmationEmail, Mail
from mail.transports import Transport, mail_transport
from mail.worker import MailWorker, WorkerTimings, build_mail_worker

__all__ = [
    "ConfirmationEmail",
    "Mail",
    "MailWorker",
    "Transport",
    "WorkerTimings",
    "build_mail_worker",
    "mail_transport",
]
