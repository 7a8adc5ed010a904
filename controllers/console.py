"""GET /staff and /staff/*: the staff console's static files, with the headers it must have.

The console is plain files in controllers/console/ (no build step); it talks to the
staff JSON API on the same origin, so the CSP can forbid every other source.
"""

from __future__ import annotations

from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

CONSOLE_PATH = "/staff"
DIRECTORY = Path(__file__).resolve().parent / "console"

HEADERS = {
    # No inline script or style, nothing from another origin, never framed.
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


async def page(request: Request) -> Response:
    """GET /staff: the console's page (its assets are under /staff/)."""
    return FileResponse(DIRECTORY / "index.html", headers=HEADERS)


class ConsoleFiles:
    """The files of controllers/console/ under /staff/, each answer with HEADERS."""

    def __init__(self) -> None:
        self._files = StaticFiles(directory=DIRECTORY, html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the file, adding HEADERS to its response."""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(HEADERS)
            await send(message)

        await self._files(scope, receive, send_with_headers)
