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
async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan (the pool opens) and yield a client of it; stop on exit."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield client
