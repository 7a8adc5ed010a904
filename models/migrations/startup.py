"""The start-up hook: brings the schema to HEAD on the database's first connection.

The steps run in a child process: Alembic and SQLAlchemy, once imported, would
stay in the serving process for good (about 25 MB of its idle RSS,
docs/performance.md), and only a start-up needs them.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from aiomysql import Connection

from config.credentials import Credentials, CredentialsSource
from config.log import setup_logging
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
    """Database's `create_tables` hook: applies pending steps in a child process.

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
            self._running = asyncio.ensure_future(self._upgrade())
            self._running.add_done_callback(self._finished)
        await asyncio.shield(self._running)

    async def _upgrade(self) -> list[str]:
        # Read here: a secret fetched from AWS is cached in this process for the pool.
        credentials = await asyncio.to_thread(self._credentials.current)
        # Spawned, not forked: this process has threads and an event loop.
        child = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        try:
            return await asyncio.get_running_loop().run_in_executor(
                child, upgrade_in_child, credentials, self._settings
            )
        finally:
            child.shutdown(wait=False)

    def _finished(self, task: asyncio.Task[list[str]]) -> None:
        self._running = None
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.warning("migrations failed, retried on the next connection: %s", exc)


def upgrade_in_child(credentials: Credentials, settings: Settings) -> list[str]:
    """`upgrade`, in a child process that logs as the service does."""
    setup_logging(settings)
    return upgrade(credentials, settings)
