"""Logging: one JSON object a line (for CloudWatch) or plain text, with the request id."""

from __future__ import annotations

import functools
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson

from config.settings import Settings

# Set by the request-id middleware; every log line of a request carries it.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# Fields a controller adds to its request's one access-log line (say, the new user's id).
access_fields_var: ContextVar[dict[str, object] | None] = ContextVar("access_fields", default=None)


def add_access_fields(**fields: object) -> None:
    """Add fields to the access-log line of the request being served."""
    current = access_fields_var.get()
    if current is not None:
        current.update(fields)


@functools.lru_cache(maxsize=4)
def _second(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def iso_time(timestamp: float) -> str:
    """`timestamp` as ISO 8601 UTC with milliseconds; formatted once a second, not a line."""
    second = int(timestamp)
    return f"{_second(second)}.{int((timestamp - second) * 1000):03d}+00:00"


# Attributes every LogRecord has; anything else was passed in `extra=` and is logged.
_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "color_message"}  # uvicorn's ANSI-coloured copy of the message
)


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being served, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `request_id` to the record; never drops it."""
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id and extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as a single JSON line."""
        entry: dict[str, object] = {
            "time": iso_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """Human-readable lines for local runs, extras appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Render the record with its extras."""
        line = super().format(record)
        extras = " ".join(
            f"{key}={value}"
            for key, value in record.__dict__.items()
            if key not in _STANDARD_ATTRIBUTES and key != "request_id"
        )
        return f"{line} {extras}" if extras else line


def setup_logging(settings: Settings) -> None:
    """Send every logger (ours, uvicorn's) to stdout in the configured format."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # Our access middleware writes the one line a request gets.
    logging.getLogger("uvicorn.access").disabled = True
    # boto3's INFO lines ("Found credentials in ...") are noise in a service log.
    for name in ("boto3", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))
