"""What the fleet left behind: the stored rows, the outbox, the `.eml` files, the schema."""

from __future__ import annotations

import time
from collections import defaultdict
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import pymysql
from fleet_errors import FleetError
from image_probes import ThrowAwayDatabase

POLL_SECONDS = 0.5


def rows(database: ThrowAwayDatabase, sql: str, *args: str) -> list[tuple[Any, ...]]:
    """Every row of `sql` in the throw-away database."""
    env = database.env
    try:
        connection = pymysql.connect(
            host=env["DB_HOST"],
            port=int(env["DB_PORT"]),
            user=env["DB_USER"],
            password=env["DB_PASSWORD"],
            database=database.name,
            connect_timeout=5,
            autocommit=True,
        )
        with connection, connection.cursor() as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall())
    except pymysql.MySQLError as exc:
        raise FleetError(f"database: {sql}: {exc}") from exc


def stored(database: ThrowAwayDatabase) -> dict[str, str]:
    """email -> id of every row of `users`."""
    return {
        str(email): str(user_id) for user_id, email in rows(database, "SELECT id, email FROM users")
    }


def wait_for_outbox(database: ThrowAwayDatabase, timeout: float) -> str | None:
    """Wait until every registration's email is recorded sent; None, or what is still owed.

    A killed process's claimed emails fall due again when their lease ends (60 s),
    and its registrations with no outbox row yet are found by the others'
    reconciliation: the wait may be that long.
    """
    deadline = time.monotonic() + timeout
    while True:
        users = database.query("SELECT COUNT(*) FROM users")
        counts = dict(rows(database, "SELECT status, COUNT(*) FROM mail_outbox GROUP BY status"))
        if counts.get("sent", 0) == users and set(counts) <= {"sent"}:
            return None
        if time.monotonic() > deadline:
            return f"outbox not drained in {timeout:.0f} s: {users} stored, outbox {counts}"
        time.sleep(POLL_SECONDS)


def emails_sent(mail_root: Path) -> dict[str, list[str]]:
    """recipient -> the processes that emailed them (`.part` files never went)."""
    parser = BytesHeaderParser()
    senders: dict[str, list[str]] = defaultdict(list)
    for path in sorted(mail_root.glob("*/*.eml")):
        with path.open("rb") as file:
            senders[parseaddr(parser.parse(file)["To"])[1]].append(path.parent.name)
    return senders


def schema_problems(database: ThrowAwayDatabase, revision: str, column: str) -> list[str]:
    """The new version's step is recorded and its column is there."""
    problems = []
    version = database.query("SELECT version_num FROM alembic_version")
    if version != revision:
        problems.append(f"schema at {version}, not {revision}")
    found = database.query(
        "SELECT COUNT(*) FROM information_schema.columns"
        " WHERE table_schema = DATABASE() AND table_name = 'mail_outbox' AND column_name = %s",
        column,
    )
    if found != 1:
        problems.append(f"mail_outbox.{column} missing after the new version's migration")
    return problems
