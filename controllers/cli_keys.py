"""`python index.py keys create|list|revoke`: the staff keys, from an operator's shell.

The new key is the only thing written to stdout, so `KEY=$(... keys create ...)`
captures it; everything else goes to stderr. Each creation and revocation is
written to the audit trail.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from config.credentials import CredentialsSource
from config.errors import DuplicateKeyName
from config.settings import Settings
from models.audit import AuditEntry, record
from models.db import Database
from models.migrations.runner import upgrade
from models.staff_keys import StaffKey, create_key, find_key, list_keys, revoke_key

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")


def key_name(text: str) -> str:
    """argparse type: a name that starts with a letter (so never mistaken for an id)."""
    if not _NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            "a key name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter"
        )
    return text


def add_commands(commands: Any) -> None:
    """Add `keys` and its sub-commands to the parser's sub-parsers."""
    keys = commands.add_parser("keys", help="create, list or revoke staff keys")
    actions = keys.add_subparsers(required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a key and print it (shown only once)")
    create.add_argument("--name", required=True, type=key_name, help="e.g. admissions-laptop")
    create.set_defaults(command=create_command)
    listing = actions.add_parser("list", help="list every key (never the keys themselves)")
    listing.set_defaults(command=list_command)
    revoke = actions.add_parser("revoke", help="revoke a key at once, by name or id")
    revoke.add_argument("key", metavar="NAME-or-ID")
    revoke.set_defaults(command=revoke_command)


def create_command(
    args: argparse.Namespace, settings: Settings, credentials: CredentialsSource
) -> int:
    """Create the key named --name and print it once."""

    async def work(db: Database) -> int:
        try:
            key, secret = await create_key(db, args.name)
        except DuplicateKeyName:
            print(f"a key named {args.name!r} exists already (names are never reused)",
                  file=sys.stderr)  # fmt: skip
            return 1
        await record(db, _cli_entry("keys.create", key))
        print(secret)
        print(f"created key {key.id} {key.name!r}: copy the line above now, it is not shown "
              "again", file=sys.stderr)  # fmt: skip
        return 0

    return _run(settings, credentials, work)


def list_command(
    args: argparse.Namespace, settings: Settings, credentials: CredentialsSource
) -> int:
    """Print every key's id, name and times."""

    async def work(db: Database) -> int:
        rows = [("ID", "NAME", "CREATED", "LAST USED", "REVOKED")]
        rows += [
            (str(k.id), k.name, _time(k.created_at), _time(k.last_used_at), _time(k.revoked_at))
            for k in await list_keys(db)
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            print("  ".join(cells).rstrip())
        return 0

    return _run(settings, credentials, work)


def revoke_command(
    args: argparse.Namespace, settings: Settings, credentials: CredentialsSource
) -> int:
    """Revoke the key named (or numbered) on the command line, from the next request on."""

    async def work(db: Database) -> int:
        key = await find_key(db, args.key)
        if key is None:
            print(f"no key named or numbered {args.key!r}", file=sys.stderr)
            return 1
        if not await revoke_key(db, key):
            print(f"key {key.id} {key.name!r} was revoked already", file=sys.stderr)
            return 0
        await record(db, _cli_entry("keys.revoke", key))
        print(f"revoked key {key.id} {key.name!r}", file=sys.stderr)
        return 0

    return _run(settings, credentials, work)


def _cli_entry(action: str, key: StaffKey) -> AuditEntry:
    # No request id from a shell: the operating-system user says who did it.
    detail: dict[str, object] = {"key_id": key.id, "via": "cli", "by": getpass.getuser()}
    return AuditEntry(key.name, action, detail, row_count=None, request_id=None)


def _time(value: datetime | None) -> str:
    return value.isoformat() + "Z" if value is not None else "-"


def _run(
    settings: Settings, credentials: CredentialsSource, work: Callable[[Database], Awaitable[int]]
) -> int:
    async def main() -> int:
        # The service would apply pending steps at its start; a key needs its table now.
        await asyncio.to_thread(upgrade, credentials.current(), settings)
        db = Database(settings, credentials)
        try:
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(main())
