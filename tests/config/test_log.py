"""Log lines: JSON with the request id, and applicants' data masked."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest

from config.credentials import Credentials
from config.log import (
    LineFormatter,
    RequestIdFilter,
    line_format,
    mask_email,
    mask_emails_in,
    mask_path,
    request_id_var,
    setup_logging,
)
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


@pytest.mark.parametrize(
    "forged",
    [
        "GET /x 200\r\nINFO forged line",
        "GET /x\n2099-01-01 INFO admin ok",
        "\x1b[2J\x1b]0;pwned\x07",
    ],
)
def test_text_lines_escape_control_characters_in_messages_and_fields(forged: str) -> None:
    # A request path is the client's text: raw CR, LF or ESC would forge lines or
    # drive the terminal reading the log.
    line = LineFormatter("text").format(record(forged, path=forged, **{"k\n": "v"}))
    assert "\n" not in line
    assert "\r" not in line
    assert "\x1b" not in line
    assert "\x07" not in line
    assert "\\r\\n" in line or "\\n" in line or "\\x1b" in line


def test_a_trace_keeps_its_lines_but_not_their_control_characters() -> None:
    error = ValueError("bad\r\x1b[31m input")
    entry = record("failed")
    entry.exc_info = (ValueError, error, None)
    line = LineFormatter("text").format(entry)
    assert "\nValueError: bad\\r\\x1b[31m input" in line
    assert "\r" not in line
    assert "\x1b" not in line


def test_the_part_of_an_address_before_an_apostrophe_is_masked_too() -> None:
    text = "rejected jose.o'brien@example.com and 'ada@example.com'"
    assert mask_emails_in(text) == "rejected j***@example.com and '***@example.com'"
    assert "brien" not in mask_emails_in(text)


@pytest.mark.parametrize(("tty", "expected"), [(True, "text"), (False, "json")])
def test_unset_log_format_is_text_on_a_terminal_and_json_otherwise(
    monkeypatch: pytest.MonkeyPatch, tty: bool, expected: str
) -> None:
    monkeypatch.setattr("sys.stdout.isatty", lambda: tty)
    assert line_format(Settings()) == expected
    assert line_format(Settings(log_format="json")) == "json"


def test_alembics_setup_plugin_lines_are_quiet() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging(Settings(log_level="info"))
        assert not logging.getLogger("alembic.runtime.plugins").isEnabledFor(logging.INFO)
        assert logging.getLogger("alembic.runtime.migration").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:], root.level = handlers, level


def test_an_unrouted_path_is_masked_on_the_access_line() -> None:
    path = "/api/jane.doe@example.com/555-123-4567/" + "x" * 300
    masked = mask_path(path)
    assert "jane.doe" not in masked
    assert "555" not in masked
    assert "4567" not in masked
    assert masked.startswith(
        "/***@example.com/***-***-***/"
    )  # "/api/jane.doe" reads as a local part
    assert len(masked) <= 103
