"""Amazon SES (API v2, SendEmail) as a transport, and the one place its errors are read.

botocore's own retries are off: a failed send is retried by the sender, with
backoff, from the outbox, so that a retry survives a restart and never holds
a claimed email for long. The connect and read timeouts bound each send.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from config.mail_transport import Mail, MailRejected, MailTemporarilyFailed
from config.redact import mask_emails_in
from config.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sesv2.type_defs import SendEmailRequestTypeDef

CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0
# Codes that say this message will never be accepted as it is. Anything else
# (throttling, quotas, 5xx, access denied, a missing configuration set) may
# heal, so it is retried: an email is never given up on for a passing cause.
PERMANENT_CODES = frozenset(
    {"MessageRejected", "MailFromDomainNotVerifiedException", "BadRequestException"}
)
UTF8 = "UTF-8"


class SesTransport:
    """Sends through SES v2 `SendEmail`: from MAIL_FROM, text and HTML, UTF-8."""

    max_seconds = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS

    def __init__(self, settings: Settings) -> None:
        import boto3  # noqa: PLC0415 (only this transport needs it)
        from botocore.config import Config  # noqa: PLC0415

        assert settings.mail_from is not None  # load_settings requires it for ses
        self._sender = settings.mail_from
        self._configuration_set = settings.mail_configuration_set
        # AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_SESV2) is honoured by boto3 itself.
        session = boto3.session.Session(region_name=settings.aws_region)
        self._client: SESV2Client = session.client(
            "sesv2",
            config=Config(
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                read_timeout=READ_TIMEOUT_SECONDS,
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
                    "Subject": {"Data": mail.subject, "Charset": UTF8},
                    "Body": {
                        "Text": {"Data": mail.text, "Charset": UTF8},
                        "Html": {"Data": mail.html, "Charset": UTF8},
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
        if code in PERMANENT_CODES:
            raise MailRejected(message) from exc
        raise MailTemporarilyFailed(message) from exc
    except ParamValidationError as exc:
        raise MailRejected(mask_emails_in(f"SES refused the request: {exc}")) from exc
    except BotoCoreError as exc:
        raise MailTemporarilyFailed(mask_emails_in(f"SES unreachable: {exc}")) from exc
