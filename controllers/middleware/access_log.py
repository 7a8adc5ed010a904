"""The access line: one a request, rendered like every other log line of the service.

The middleware times the request and answers 500 for anything nobody foresaw;
a controller adds fields to its request's line with `add_access_fields` (say,
the new user's id). The line is written straight to stdout rather than through
`logging`: a record, its filters, the handler's lock and the formatter cost
about 10 µs a line, which is a sixth of a registration's own time
(docs/performance.md); this costs about 2.
"""

from __future__ import annotations

import sys
import time
from contextvars import ContextVar
from typing import TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.log import render_line, request_id_var
from config.settings import Settings
from controllers.error_responses import unexpected_error

LOGGER_NAME = "schoolapp.access"
# The ALB probes every few seconds per task: a line each would bury the rest.
_QUIET = frozenset({("/health", 200)})

# The fields of the line of the request being served; None outside a request.
_fields_var: ContextVar[dict[str, object] | None] = ContextVar("access_fields", default=None)


def add_access_fields(**fields: object) -> None:
    """Add fields to the access line of the request being served."""
    current = _fields_var.get()
    if current is not None:
        current.update(fields)


class AccessLog:
    """Writes access lines in the configured format, unless LOG_LEVEL is above info."""

    def __init__(self, settings: Settings, stream: TextIO | None = None) -> None:
        self._enabled = settings.log_level in ("debug", "info")
        self._log_format = settings.log_format
        self._stream = stream

    def write(self, message: str, fields: dict[str, object]) -> None:
        """Write one line: `message` and `fields`, with the time and the request id."""
        if not self._enabled:
            return
        line = render_line(
            self._log_format,
            time.time(),
            "INFO",
            LOGGER_NAME,
            message,
            fields=fields,
            request_id=request_id_var.get(),
        )
        # Looked up on each write, so a redirected stdout (tests, tools) is honoured.
        stream = self._stream or sys.stdout
        stream.write(line + "\n")
        stream.flush()


class AccessLogMiddleware:
    """Logs method, path, status and duration; answers 500 for unhandled errors."""

    def __init__(self, app: ASGIApp, access_log: AccessLog) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request and log how it went."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        fields: dict[str, object] = {}
        token = _fields_var.set(fields)

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except Exception as exc:
            if status:
                raise  # the answer has begun: nothing to do but let the server close it
            # Answered here rather than by Starlette's ServerErrorMiddleware: that one
            # sits outside every user middleware, so its 500 would lack X-Request-ID.
            await unexpected_error(exc)(scope, receive, send_and_note)
        finally:
            _fields_var.reset(token)
            path = scope["path"]
            if (path, status) not in _QUIET:
                method = scope["method"]
                self.access_log.write(
                    f"{method} {path} {status}",
                    {
                        "method": method,
                        "path": path,
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                        **fields,
                    },
                )
