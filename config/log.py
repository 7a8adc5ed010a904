"""Log lines: one JSON object a line (for CloudWatch) or plain text, with the request id.

`render_line` is the one place a line takes its shape: the logging formatter
below and the access line (routes/edge.py) both call it. The request's context
(its id, its access line's fields) lives here, where the edge that sets it and
the handlers that add to it both import it.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import time
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson

from config.settings import LogFormat, Settings

# Control characters (CR, LF, ESC, ...) and Unicode line breaks, escaped in text lines so
# that a value (a request path, say) can neither forge a line nor drive the terminal.
_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})
_TRACE_ESCAPES = {c: e for c, e in _ESCAPES.items() if c != ord("\n")}


def escaped(text: str) -> str:
    """`text` with control characters and line breaks written as escapes (\\n, \\x1b)."""
    return text.translate(_ESCAPES)


def line_format(settings: Settings) -> LogFormat:
    """LOG_FORMAT, with `auto` resolved: text when stdout is a terminal, JSON otherwise."""
    if settings.log_format != "auto":
        return settings.log_format
    return "text" if sys.stdout.isatty() else "json"


# Set by the edge middleware; every log line of a request carries it.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# The fields of the access line of the request being served; None outside a request.
access_fields_var: ContextVar[dict[str, object] | None] = ContextVar("access_fields", default=None)


def add_access_fields(**fields: object) -> None:
    """Add fields to the access line of the request being served (say, the new row's id)."""
    current = access_fields_var.get()
    if current is not None:
        current.update(fields)


# Formatting a time is costly against a line's budget; a busy second writes thousands of lines.
@functools.lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")


@functools.lru_cache(maxsize=4)
def _local_second(second: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))


def iso_time(timestamp: float) -> str:
    """`timestamp` as ISO 8601 UTC with milliseconds; formatted once a second, not a line."""
    second = int(timestamp)
    return f"{_utc_second(second)}.{int((timestamp - second) * 1000):03d}+00:00"


def render_line(
    log_format: LogFormat,
    created: float,
    level: str,
    logger: str,
    message: str,
    *,
    fields: Mapping[str, object],
    request_id: str | None,
    trace: str = "",
) -> str:
    """One log line, without its newline, in LOG_FORMAT `log_format` ("json" or "text").

    `created` is a Unix time and `level` a logging level name ("INFO"). JSON is
    one object: time, level, logger, message, the fields that are not None, the
    request id (outside a request, none) and the exception. Text is
    `time LEVEL logger [request id] message key=value ...` in local time, as
    `logging` writes it, with a trace on lines of its own.
    """
    if log_format == "json":
        entry: dict[str, object] = {
            "time": iso_time(created),
            "level": level.lower(),
            "logger": logger,
            "message": message,
        }
        for key, value in fields.items():
            if value is not None:
                entry[key] = value
        if request_id is not None:
            entry["request_id"] = request_id
        if trace:
            entry["exception"] = trace
        return orjson.dumps(entry, default=str).decode()
    second = int(created)
    line = (
        f"{_local_second(second)},{int((created - second) * 1000):03d} "
        f"{level:<7} {logger} [{request_id}] {escaped(message)}"
    )
    if fields:
        line += " " + " ".join(
            f"{escaped(key)}={escaped(str(value))}" for key, value in fields.items()
        )
    if trace:
        line += "\n" + trace.translate(_TRACE_ESCAPES)
    return line


# Attributes every LogRecord has; anything else was passed in `extra=` and is a field.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "color_message"}  # uvicorn's ANSI-coloured copy of the message
    | {"request_id"}  # set by RequestIdFilter, rendered in its own place
)


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being served, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `request_id` to the record; never drops it."""
        record.request_id = request_id_var.get()
        return True


class LineFormatter(logging.Formatter):
    """Renders a record in a LOG_FORMAT; its extras become fields."""

    def __init__(self, log_format: LogFormat) -> None:
        super().__init__()
        self._log_format = log_format

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as one line (a trace on lines of its own, in text)."""
        fields = {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES}
        traces = []
        if record.exc_info:
            traces.append(self.formatException(record.exc_info))
        if record.stack_info:
            traces.append(self.formatStack(record.stack_info))
        return render_line(
            self._log_format,
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            fields=fields,
            request_id=getattr(record, "request_id", None),
            trace="\n".join(traces),
        )


def setup_logging(settings: Settings) -> None:
    """Send every logger (ours, uvicorn's) to stdout in the configured format."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(LineFormatter(line_format(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # The access middleware writes the one line a request gets.
    logging.getLogger("uvicorn.access").disabled = True
    # boto3's INFO lines ("Found credentials in ...") are noise in a service log.
    # Alembic's "setup plugin ..." lines, one a plugin at every migration run, say nothing.
    for name in ("boto3", "botocore", "urllib3", "alembic.runtime.plugins"):
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))


# Masks for applicants' personal data before it reaches a log line.


def mask_email(email: str) -> str:
    """`jane.doe@example.com` -> `j***@example.com`: enough to correlate, not to contact."""
    local, at, domain = email.rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


# An apostrophe is part of a local part (o'brien@...); it ends only the domain.
_ADDRESS = re.compile(r"[^\s@<>()\[\]\",;:]+@[^\s@<>()\[\]\"',;:]+")


def mask_emails_in(text: str) -> str:
    """Every address in `text` (a provider's error message, say) masked as `mask_email` does."""
    return _ADDRESS.sub(lambda match: mask_email(match[0]), text)


_DIGIT_RUN = re.compile(r"[0-9]{3,}")
PATH_LOGGED_MAX = 100


def mask_path(path: str) -> str:
    """An unrouted request path as an access line may show it: addresses masked, runs of
    three or more digits (a phone, whole or in groups) as `***`, at most PATH_LOGGED_MAX."""
    masked = _DIGIT_RUN.sub("***", mask_emails_in(path))
    return masked if len(masked) <= PATH_LOGGED_MAX else masked[:PATH_LOGGED_MAX] + "..."
