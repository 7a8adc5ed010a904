"""Log lines: JSON with the request id, and applicants' data masked."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest

from config.credentials import Credentials
from config.log import LineFormatter, RequestIdFilter, mask_email, request_id_var
from config.settings import LogFormat, Settings
from routes.edge import LOGGER_NAME, AccessLog


def record(message: str, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("schoolapp.test", logging.INFO, __file__, 1, message, None, None)
    entry.__dict__.update(extra)
    RequestIdFilter().filter(entry)
    return entry


def test_a_json_line_carries_the_request_id_and_extras() -> None:
    token = request_id_var.set("req-42")
    try:
        line = LineFormatter("json").format(record("hello", status=201, method="POST"))
    finally:
        request_id_var.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "hello"
    assert entry["request_id"] == "req-42"
    assert (entry["status"], entry["method"]) == (201, "POST")
    assert entry["level"] == "info"
    assert entry["time"].endswith("+00:00")
    assert "\n" not in line


def test_an_exception_stays_on_one_json_line() -> None:
    try:
        raise ValueError("boom")  # noqa: TRY301
    except ValueError:
        entry = record("failed")
        entry.exc_info = __import__("sys").exc_info()
    line = LineFormatter("json").format(entry)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


def test_text_lines_show_the_request_id_and_extras() -> None:
    line = LineFormatter("text").format(record("hello", status=201))
    assert "[None] hello status=201" in line


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_an_access_line_is_shaped_like_any_other_line(
    monkeypatch: pytest.MonkeyPatch, log_format: LogFormat
) -> None:
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.25)
    stream = io.StringIO()
    token = request_id_var.set("req-7")
    try:
        access_log = AccessLog(Settings(log_format=log_format, log_level="info"), stream)
        access_log.write("GET /x 404", {"method": "GET", "status": 404})
        expected = logging.LogRecord(
            LOGGER_NAME, logging.INFO, __file__, 1, "GET /x 404", None, None
        )
        expected.__dict__.update(method="GET", status=404)
        RequestIdFilter().filter(expected)
    finally:
        request_id_var.reset(token)
    assert stream.getvalue() == LineFormatter(log_format).format(expected) + "\n"


@pytest.mark.parametrize(
    ("email", "masked"),
    [("jane.doe@example.com", "j***@example.com"), ("a@b.co", "a***@b.co"), ("nonsense", "***")],
)
def test_emails_are_masked(email: str, masked: str) -> None:
    assert mask_email(email) == masked


def test_credentials_never_show_their_password() -> None:
    credentials = Credentials("db", 3306, "app", "schoolapp", "s3cr3t-pw")
    assert "s3cr3t-pw" not in repr(credentials)
