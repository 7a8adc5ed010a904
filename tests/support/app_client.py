"""The app in this process, its lifespan running, reached through httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx

from config.settings import Settings
from index import create_app

CORS_ORIGIN = "https://apply.example.edu"

SettingsFactory = Callable[..., Settings]


@asynccontextmanager
async def serve(
    settings: Settings, peer: tuple[str, int] = ("127.0.0.1", 123)
) -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan (the pool opens) and yield a client of it; stop on exit.

    `peer` is the socket address the app sees the requests come from.
    """
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=peer)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield client
