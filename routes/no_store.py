"""`Cache-Control: no-store` on every answer under the staff prefixes, errors included.

Staff answers hold applicants' data, or say who may see it: no browser, proxy or
CDN may keep a copy (issue 19). The console's files set it themselves
(controllers/console.py), as they are served under /staff, not the API's prefixes.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class NoStoreByPath:
    """Adds `Cache-Control: no-store` to the answers of paths under `prefixes`."""

    def __init__(self, app: ASGIApp, *, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request; mark the answer uncacheable when its path is a staff one."""
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return

        async def no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, no_store)
