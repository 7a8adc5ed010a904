"""X-Request-ID: taken from the request when sane, else generated; echoed and logged."""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.log import request_id_var

HEADER = "X-Request-ID"
# Long or odd ids would let a client forge or bloat log lines.
_SANE = re.compile(r"[A-Za-z0-9._:+=/-]{1,128}")


class RequestIdMiddleware:
    """Puts the request id in the logging context and on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with its id set for the whole of it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or uuid.uuid4().hex
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


def _incoming_id(scope: Scope) -> str | None:
    value = Headers(scope=scope).get(HEADER)
    return value if value is not None and _SANE.fullmatch(value) else None
