"""Refuse bodies over the limit without reading past it."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.errors import BodyTooLarge


class BodyLimitMiddleware:
    """Raises BodyTooLarge from `receive` once a body is known to exceed `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with a `receive` that counts the body's bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            # A declared length over the limit is refused before a byte is read.
            if declared is not None and declared > self.max_bytes:
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    # ASCII only: str.isdigit() also accepts digits such as "²", which int() refuses.
    return int(value) if value is not None and value.isascii() and value.isdigit() else None
