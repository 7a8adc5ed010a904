"""One log line a request, and the 500 answer for anything nobody foresaw."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.access_log import AccessLog
from config.log import access_fields_var
from controllers.error_responses import unexpected_error

# The ALB probes every few seconds per task: a line each would bury the rest.
_QUIET = frozenset({("/health", 200)})


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
        token = access_fields_var.set(fields)

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
            await unexpected_error(exc)(scope, receive, send_and_note)
        finally:
            access_fields_var.reset(token)
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
