"""How a confirmation email leaves the process: Amazon SES, `.eml` files, or not at all.

`Transport.send` blocks (boto3, file I/O): the worker runs it in threads of its
own. Every failure leaves a transport as one of two exceptions of ours, whatever
the library raised: `MailRejected` (permanent, recorded and never retried) or
`MailTemporarilyFailed` (retried later with backoff). SES is also the one place
botocore's errors are read; its own retries are off, so that a retry comes from
the outbox (it survives a restart and never holds a claimed email for long).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from config.errors import MailRejected, MailTemporarilyFailed
from config.log import mask_emails_in
from config.settings import Settings
from mail.message import Mail

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sesv2.type_defs import SendEmailRequestTypeDef

# The sender of a developer's `.eml` files when MAIL_FROM is unset.
_LOCAL_SENDER = "schoolapp@localhost"
_SES_CONNECT_TIMEOUT_SECONDS = 2.0
_SES_READ_TIMEOUT_SECONDS = 5.0
# Codes that say this message will never be accepted as it is. Anything else
# (throttling, quotas, 5xx, access denied, a missing configuration set) may
# heal, so it is retried: an email is never given up on for a passing cause.
_SES_PERMANENT_CODES = frozenset(
    {"MessageRejected", "MailFromDomainNotVerifiedException", "BadRequestException"}
)
_UTF8 = "UTF-8"


class Transport(Protocol):
    """Sends one email, blocking; a send never takes longer than `max_seconds`."""

    max_seconds: float

    def send(self, mail: Mail) -> str:
        """Send `mail` and return the provider's message id."""
        ...


def mail_transport(settings: Settings) -> Transport | None:
    """The transport MAIL_BACKEND names; None when it is `off`."""
    mode = settings.mail_mode
    if mode == "off":
        return None
    if mode == "files":
        return FileTransport(settings.mail_dir, settings.mail_from or _LOCAL_SENDER)
    return SesTransport(settings)


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
    # The id and the MIME boundary are ours: email.utils.make_msgid and the generator's
    # boundary draw from the process-wide `random`, and this runs in a send thread.
    message["Message-ID"] = f"<{uuid.uuid4().hex}@schoolapp.local>"
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    message.set_boundary(f"=============={uuid.uuid4().hex}==")
    return message


class SesTransport:
    """Sends through SES v2 `SendEmail`: from MAIL_FROM, text and HTML, UTF-8."""

    max_seconds = _SES_CONNECT_TIMEOUT_SECONDS + _SES_READ_TIMEOUT_SECONDS

    def __init__(self, settings: Settings) -> None:
        # boto3 takes a noticeable time to import; the other transports never pay it.
        import boto3  # noqa: PLC0415
        from botocore.config import Config  # noqa: PLC0415

        assert settings.mail_from is not None  # load_settings requires it for ses
        self._sender = settings.mail_from
        self._configuration_set = settings.mail_configuration_set
        # AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_SESV2) is honoured by boto3 itself.
        session = boto3.session.Session(region_name=settings.aws_region)
        self._client: SESV2Client = session.client(
            "sesv2",
            config=Config(
                connect_timeout=_SES_CONNECT_TIMEOUT_SECONDS,
                read_timeout=_SES_READ_TIMEOUT_SECONDS,
                retries={"mode": "standard", "total_max_attempts": 1},
            ),
        )

    def send(self, mail: Mail) -> str:
        """Send `mail`; SES's MessageId. Thread-safe (boto3 clients are)."""
        request: SendEmailRequestTypeDef = {
            "FromEmailAddress": self._sender,
            # A list of addresses, not a header: SES builds the headers.
            "Destination": {"ToAddresses": [mail.to]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": mail.subject, "Charset": _UTF8},
                    "Body": {
                        "Text": {"Data": mail.text, "Charset": _UTF8},
                        "Html": {"Data": mail.html, "Charset": _UTF8},
                    },
                }
            },
            # Lets a configuration set's bounce and complaint events name the registration.
            "EmailTags": [{"Name": "registration", "Value": mail.key}],
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        with map_ses_errors():
            answer = self._client.send_email(**request)
        return answer["MessageId"]


@contextmanager
def map_ses_errors() -> Iterator[None]:
    """Turn botocore's exceptions into MailRejected or MailTemporarilyFailed.

    Messages are kept for the outbox and the log with addresses masked (SES
    names the rejected recipient in some of them).
    """
    from botocore.exceptions import (  # noqa: PLC0415
        BotoCoreError,
        ClientError,
        ParamValidationError,
    )

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = error.get("Code") or str(status)
        message = mask_emails_in(f"SES {code} (HTTP {status}): {error.get('Message', '')}")
        if code in _SES_PERMANENT_CODES:
            raise MailRejected(message) from exc
        raise MailTemporarilyFailed(message) from exc
    except ParamValidationError as exc:
        raise MailRejected(mask_emails_in(f"SES refused the request: {exc}")) from exc
    except BotoCoreError as exc:
        raise MailTemporarilyFailed(mask_emails_in(f"SES unreachable: {exc}")) from exc
