"""Applies the pending migrations once, however many processes try at the same time.

Every runner takes the server's named lock `schoolapp.migrations` before it
reads the database's version, so the first applies each step and the others,
waiting on the lock, then find nothing left to do. Alembic and SQLAlchemy are
imported only here, only when a migration is due (see models/db/sync.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.credentials import Credentials
from config.errors import MigrationFailed
from config.settings import Settings
from models.db.sync import sync_connection

if TYPE_CHECKING:
    import sqlalchemy
    from alembic.config import Config

logger = logging.getLogger("schoolapp.migrations")

SCRIPTS = Path(__file__).resolve().parent
LOCK_NAME = "schoolapp.migrations"
# Long enough for another task's steps to finish; a start-up that gives up retries later.
LOCK_TIMEOUT_SECONDS = 60
# A step may rebuild a table: far above a request's query timeout, yet never a hang.
READ_TIMEOUT_SECONDS = 300.0


def upgrade(credentials: Credentials, settings: Settings) -> list[str]:
    """Apply every pending step under the lock; the ids of the steps this call applied.

    Raises MigrationFailed (a DatabaseUnavailable) when the database cannot be
    reached, the lock is not had in time, or a step fails.
    """
    import sqlalchemy.exc  # noqa: PLC0415 (see the module's docstring)
    from alembic.util import CommandError  # noqa: PLC0415

    try:
        with sync_connection(credentials, settings, READ_TIMEOUT_SECONDS) as connection:
            return _upgrade_locked(connection)
    except sqlalchemy.exc.DBAPIError as exc:
        raise MigrationFailed(f"cannot migrate: {exc.orig!r}") from exc
    except CommandError as exc:
        raise MigrationFailed(f"cannot migrate: {exc}") from exc


def alembic_config() -> Config:
    """Alembic's configuration: the scripts of this package, no alembic.ini."""
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return config


def _upgrade_locked(connection: sqlalchemy.Connection) -> list[str]:
    from sqlalchemy import text  # noqa: PLC0415

    got = connection.execute(
        text("SELECT GET_LOCK(:name, :timeout)"),
        {"name": LOCK_NAME, "timeout": LOCK_TIMEOUT_SECONDS},
    ).scalar()
    # The lock belongs to the session, not the transaction; Alembic must find none open.
    connection.commit()
    if got != 1:
        raise MigrationFailed(f"the migration lock was not free within {LOCK_TIMEOUT_SECONDS} s")
    try:
        return _upgrade(connection)
    finally:
        if not connection.invalidated:
            connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": LOCK_NAME})
            connection.commit()


def _upgrade(connection: sqlalchemy.Connection) -> list[str]:
    from alembic import command  # noqa: PLC0415
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415
    from alembic.script import ScriptDirectory  # noqa: PLC0415
    from alembic.util import CommandError  # noqa: PLC0415

    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    current = MigrationContext.configure(connection).get_current_heads()
    connection.commit()
    for revision in current:
        try:
            script.get_revision(revision)
        except CommandError:
            # Newer code migrated this database, then was rolled back: its steps
            # only add, so this code runs on it as it is.
            logger.warning("the database is at %s, newer than this code: left as it is", current)
            return []
    applied: list[str] = []

    def note(**step: Any) -> None:
        applied.append(step["step"].up_revision_id)

    config.attributes["connection"] = connection
    config.attributes["on_version_apply"] = note
    command.upgrade(config, "head")
    if applied:
        logger.info("migrations applied: %s", ", ".join(applied))
    return applied
