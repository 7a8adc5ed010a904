"""A streamed response that runs a last step however the stream ends."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Mapping

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Send


class StreamThenClose(StreamingResponse):
    """Streams `content`, then awaits `on_close`: after the last chunk, a failure or a
    client that went away (the step is shielded from that cancellation)."""

    def __init__(
        self,
        content: AsyncIterable[bytes],
        *,
        on_close: Callable[[], Awaitable[None]],
        media_type: str,
        headers: Mapping[str, str],
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self._on_close = on_close

    async def stream_response(self, send: Send) -> None:
        """Send every chunk, then run `on_close` whatever happened."""
        try:
            await super().stream_response(send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._on_close()
