"""Transports and their failures: which errors are retried, which are final."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from config.errors import MailRejected, MailTemporarilyFailed
from config.log import mask_emails_in
from config.settings import Settings
from mail.message import Mail
from mail.transports import FileTransport, mail_transport, map_ses_errors, mime_message

MAIL = Mail("id-1", "ada@example.com", "Subject", "text", "<p>html</p>")


def client_error(code: str, status: int, message: str = "no") -> ClientError:
    answer: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(answer, "SendEmail")


@pytest.mark.parametrize(
    "error",
    [
        client_error("MessageRejected", 400),
        client_error("MailFromDomainNotVerifiedException", 400),
        client_error("BadRequestException", 400),
        ParamValidationError(report="Invalid type for parameter Destination"),
    ],
)
def test_a_permanent_refusal_becomes_mail_rejected(error: Exception) -> None:
    with pytest.raises(MailRejected), map_ses_errors():
        raise error


@pytest.mark.parametrize(
    "error",
    [
        client_error("TooManyRequestsException", 429),
        client_error("LimitExceededException", 400),
        client_error("Throttling", 400),
        client_error("InternalServiceErrorException", 500),
        client_error("503", 503),
        client_error("AccessDeniedException", 403),
        client_error("SendingPausedException", 400),
        client_error("NotFoundException", 404),
        EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com"),
        NoCredentialsError(),
    ],
)
def test_anything_that_may_heal_becomes_temporary(error: Exception) -> None:
    with pytest.raises(MailTemporarilyFailed), map_ses_errors():
        raise error


def test_an_address_in_an_error_message_is_masked() -> None:
    error = client_error(
        "MessageRejected",
        400,
        "Email address is not verified. The following identities failed: ada.lovelace@example.com",
    )
    with pytest.raises(MailRejected) as caught, map_ses_errors():
        raise error
    assert "ada.lovelace@example.com" not in str(caught.value)
    assert "a***@example.com" in str(caught.value)
    assert mask_emails_in("<bob@x.org>, carol@y.org") == "<b***@x.org>, c***@y.org"


def test_an_unwritable_folder_is_a_temporary_failure(tmp_path: Path) -> None:
    # A file where the folder should be (permissions would not stop root).
    (tmp_path / "mail").write_text("in the way")
    with pytest.raises(MailTemporarilyFailed, match="cannot write"):
        FileTransport(tmp_path / "mail", "a@school.example.edu").send(MAIL)


def test_sending_again_replaces_the_file(tmp_path: Path) -> None:
    transport = FileTransport(tmp_path, "a@school.example.edu")
    first = transport.send(MAIL)
    second = transport.send(MAIL)
    assert first == second
    assert [p.name for p in tmp_path.iterdir()] == ["id-1.eml"]


def test_the_backend_setting_picks_the_transport(tmp_path: Path) -> None:
    assert isinstance(mail_transport(Settings(mail_dir=tmp_path)), FileTransport)
    assert mail_transport(Settings(mail_backend="off")) is None


def test_a_message_draws_nothing_from_the_process_wide_random() -> None:
    # Sends run in threads beside the app: a draw from the shared `random` there changes
    # what another part of the process (a seeded test, Hypothesis) replays.
    state = random.getstate()
    message = mime_message(MAIL, "School <school@example.com>")
    rendered = message.as_bytes()
    assert random.getstate() == state
    assert b"multipart/alternative" in rendered
    assert message["Message-ID"].endswith("@schoolapp.local>")
