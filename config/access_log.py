"""The access log: one line a request, shaped like every other log line of the service.

It is written straight to stdout rather than through `logging`: a record, its
filters, the handler's lock and the formatter cost about 10 µs a line, which is
a sixth of a registration's own time (docs/performance.md); this costs about 2.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import orjson

from config.log import iso_time, request_id_var
from config.settings import Settings

LOGGER_NAME = "schoolapp.access"


class AccessLog:
    """Writes access lines in the configured format, unless LOG_LEVEL is above info."""

    def __init__(self, settings: Settings, stream: TextIO | None = None) -> None:
        self._enabled = settings.log_level in ("debug", "info")
        self._json = settings.log_format == "json"
        self._stream = stream

    def write(self, message: str, fields: dict[str, object]) -> None:
        """Write one line: `message` and `fields`, with the time and the request id."""
        if not self._enabled:
            return
        now = time.time()
        request_id = request_id_var.get()
        if self._json:
            entry = {
                "time": iso_time(now),
                "level": "info",
                "logger": LOGGER_NAME,
                "message": message,
                **fields,
                "request_id": request_id,
            }
            line = orjson.dumps(entry, default=str).decode()
        else:
            extras = " ".join(f"{key}={value}" for key, value in fields.items())
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
            stamp = f"{stamp},{int(now % 1 * 1000):03d}"
            line = f"{stamp} INFO    {LOGGER_NAME} [{request_id}] {message} {extras}"
        # Looked up on each write, so a redirected stdout (tests, tools) is honoured.
        stream = self._stream or sys.stdout
        stream.write(line + "\n")
        stream.flush()
