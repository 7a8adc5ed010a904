"""When a wait on the database must be over: one asyncio timer, then DatabaseUnavailable.

aiomysql has no read timeout of its own, so every wait on the server is bounded
here: a whole operation by `DB_CONNECT_TIMEOUT + DB_QUERY_TIMEOUT`, and opening a
new connection (its greeting included) by `DB_CONNECT_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from config.errors import DatabaseUnavailable
from config.settings import Settings


def operation_timeout(settings: Settings) -> float:
    """The longest one operation may wait: a connection, then its statements."""
    return settings.db_connect_timeout + settings.db_query_timeout


class Deadline:
    """Cancels the block after `seconds` and raises DatabaseUnavailable(`message`).

    One asyncio timer costs about 6 µs, so an operation sets one for all its
    statements (retries included) rather than one each.
    """

    __slots__ = ("_message", "_seconds", "_timeout")

    def __init__(self, seconds: float, message: str) -> None:
        self._seconds = seconds
        self._message = message

    async def __aenter__(self) -> None:
        self._timeout = asyncio.timeout(self._seconds)
        await self._timeout.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self._timeout.__aexit__(exc_type, exc, traceback)
        except TimeoutError:
            raise DatabaseUnavailable(self._message) from None
