"""How a confirmation email leaves the process: Amazon SES, `.eml` files, or not at all.

`Transport.send` blocks (boto3, file I/O): the sender runs it in threads of its
own. Every failure leaves a transport as one of two exceptions of ours, whatever
the library raised: `MailRejected` (permanent, recorded and never retried) or
`MailTemporarilyFailed` (retried later with backoff).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from config.settings import Settings

# The sender of a developer's `.eml` files when MAIL_FROM is unset.
LOCAL_SENDER = "schoolapp@localhost"


@dataclass(frozen=True, slots=True)
class Mail:
    """One email, ready to send; `key` is the registration's id (one email each)."""

    key: str
    to: str
    subject: str
    text: str
    html: str


class MailFailed(Exception):
    """An email was not sent."""


class MailRejected(MailFailed):
    """Refused for good (a rejected message, an invalid address): retrying cannot help."""


class MailTemporarilyFailed(MailFailed):
    """Not sent this time (throttled, an outage, no network): the same email may go later."""


class Transport(Protocol):
    """Sends one email, blocking; a send never takes longer than `max_seconds`."""

    max_seconds: float

    def send(self, mail: Mail) -> str:
        """Send `mail` and return the provider's message id."""
        ...


class FileTransport:
    """Writes each email as `KEY.eml` into a folder, for a developer to open.

    Written to a temporary name and renamed, so a reader never sees half a file;
    sending one email again replaces its file.
    """

    max_seconds = 5.0

    def __init__(self, directory: Path, sender: str) -> None:
        self._directory = directory
        self._sender = sender

    def send(self, mail: Mail) -> str:
        """Write `mail` to MAIL_DIR; its path is the message id."""
        try:
            message = mime_message(mail, self._sender)
        except ValueError as exc:
            raise MailRejected(f"cannot build the message: {exc}") from exc
        path = self._directory / f"{mail.key}.eml"
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self._directory, suffix=".part")
            with os.fdopen(handle, "wb") as file:
                file.write(message.as_bytes())
            Path(temporary).replace(path)
        except OSError as exc:
            raise MailTemporarilyFailed(f"cannot write {path}: {exc}") from exc
        return str(path)


def mime_message(mail: Mail, sender: str) -> EmailMessage:
    """`mail` as a multipart/alternative message (text, then HTML).

    The email package refuses a header value holding a line break (ValueError),
    so no value can add a header of its own.
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain="schoolapp.local")
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message


def mail_transport(settings: Settings) -> Transport | None:
    """The transport MAIL_BACKEND names; None when it is `off`."""
    mode = settings.mail_mode
    if mode == "off":
        return None
    if mode == "files":
        return FileTransport(settings.mail_dir, settings.mail_from or LOCAL_SENDER)
    # boto3 takes a noticeable time to import; the other transports never pay it.
    from config.ses_transport import SesTransport  # noqa: PLC0415

    return SesTransport(settings)
