"""The start-up hook: brings the schema to HEAD on the database's first connection."""

from __future__ import annotations

import asyncio
import logging

from aiomysql import Connection

from config.credentials import CredentialsSource
from config.settings import Settings
from models.migrations import HEAD
from models.migrations.runner import upgrade

logger = logging.getLogger("schoolapp.migrations")

VERSION_TABLE_EXISTS = (
    "SELECT 1 FROM information_schema.tables"
    " WHERE table_schema = DATABASE() AND table_name = 'alembic_version'"
)
CURRENT_VERSIONS = "SELECT version_num FROM alembic_version"


async def at_head(conn: Connection) -> bool:
    """True when the database records HEAD as its only version."""
    async with conn.cursor() as cursor:
        if not await cursor.execute(VERSION_TABLE_EXISTS):
            return False
        await cursor.execute(CURRENT_VERSIONS)
        return {row[0] for row in await cursor.fetchall()} == {HEAD}


class StartupMigrations:
    """Database's `create_tables` hook: applies pending steps in a worker thread.

    When the database is at HEAD already (every start but the first after a
    release) one query answers and Alembic is never imported. Otherwise one
    run is under way at a time: a caller whose connect timeout ends first
    leaves it running, and the next caller waits for that same run.
    """

    def __init__(self, credentials: CredentialsSource, settings: Settings) -> None:
        self._credentials = credentials
        self._settings = settings
        self._running: asyncio.Task[list[str]] | None = None

    async def __call__(self, conn: Connection) -> None:
        """Return once the schema is at HEAD; MigrationFailed if it cannot get there."""
        if await at_head(conn):
            return
        if self._running is None:
            self._running = asyncio.ensure_future(asyncio.to_thread(self._upgrade))
            self._running.add_done_callback(self._finished)
        await asyncio.shield(self._running)

    def _upgrade(self) -> list[str]:
        return upgrade(self._credentials.current(), self._settings)

    def _finished(self, task: asyncio.Task[list[str]]) -> None:
        self._running = None
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.warning("migrations failed, retried on the next connection: %s", exc)
