"""Operators' commands, run as `python index.py COMMAND`: migrate, and the staff keys.

They reach the database the service is configured for (local or AWS mode) with the
same variables and credentials. Results go to stdout, problems to stderr with a
non-zero status: 2 for a configuration that cannot work, 1 for a database that cannot
be reached or refuses. `keys create` and `keys rotate` write only the new key to
stdout, so `KEY=$(... keys create ...)` captures it, or, with --to-parameter, nothing:
the key goes into Parameter Store as a SecureString (the key issuer task's way, as a
task's stdout lands in CloudWatch Logs). Each creation, rotation and revocation is audited.

Names stay unique: `keys create` never reuses a name, even a revoked key's; `keys
rotate NAME` issues the name's next rotation (staff_keys is unique on name and
rotation) and revokes the one before, in one transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from aiomysql import Connection

from config.credentials import (
    CredentialsSource,
    credentials_source,
    migration_credentials,
    secret_login,
)
from config.errors import (
    ConfigError,
    DatabaseUnavailable,
    DuplicateKeyName,
    ParameterNotWritten,
    StatementRejected,
)
from config.parameter_store import put_secure_parameter
from config.settings import Settings, load_settings
from models.audit import AuditEntry, record
from models.db import Database
from models.db.driver_errors import map_driver_errors
from models.db.sync import plain_connection
from models.db_users import ensure_users
from models.migrations.runner import READ_TIMEOUT_SECONDS, upgrade
from models.schema import create_database
from models.staff_keys import (
    ROLES,
    Deliver,
    StaffKey,
    create_key,
    find_key,
    list_keys,
    revoke_key,
    rotate_key,
)

__all__ = ["run"]

_Command = Callable[[argparse.Namespace, Settings, CredentialsSource], int]
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")
_DURATION = re.compile(r"([1-9][0-9]{0,4})([hdw])")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
LONGEST_LIFE = timedelta(days=5 * 366)
# SSM parameter names: letters, digits and . - _ / (AWS's own rule), a path from the root.
_PARAMETER = re.compile(r"/[A-Za-z0-9_./-]{1,1010}")


def run(argv: Sequence[str]) -> int:
    """Parse `argv`, run the command, and return the process's exit status."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        credentials = credentials_source(settings)
        credentials.current()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    command: _Command = args.command
    try:
        return command(args, settings, credentials)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as exc:
        print(f"database unavailable: {exc}", file=sys.stderr)
        return 1
    except ParameterNotWritten as exc:
        # The key's row was rolled back with it: no key exists that nobody holds.
        print(f"no key stored: {exc} (an existing parameter is never overwritten)",
              file=sys.stderr)  # fmt: skip
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python index.py",
        description="Without a command: serve the API. With one: run it and exit.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    sub = commands.add_parser("migrate", help="apply the pending schema migrations")
    sub.set_defaults(command=_migrate)
    users = commands.add_parser(
        "db-users",
        help="create or update the service's and the migrations' database users"
        " (DB_ADMIN_SECRET_ARN, DB_MIGRATION_SECRET_ARN)",
    )
    users.set_defaults(command=_db_users)
    keys = commands.add_parser("keys", help="create, list or revoke staff keys")
    actions = keys.add_subparsers(required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a key and print it (shown only once)")
    create.add_argument("--name", required=True, type=_key_name, help="e.g. admissions-laptop")
    create.add_argument(
        "--role",
        required=True,
        choices=ROLES,
        help="viewer: list, search, statistics, export; admin: also erase and the audit trail",
    )
    _delivery_options(create)
    create.set_defaults(command=_create_key)
    rotate = actions.add_parser(
        "rotate", help="a new key for that name (same role), the old one revoked at once"
    )
    rotate.add_argument("key", metavar="NAME", type=_key_name)
    _delivery_options(rotate)
    rotate.set_defaults(command=_rotate_key)
    listing = actions.add_parser("list", help="list every key (never the keys themselves)")
    listing.set_defaults(command=_list_keys)
    revoke = actions.add_parser("revoke", help="revoke a key at once, by name or id")
    revoke.add_argument("key", metavar="NAME-or-ID")
    revoke.set_defaults(command=_revoke_key)
    return parser


def _delivery_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--expires",
        type=_lifetime,
        help="e.g. 90d, 12w or 8h from now (at most 5 years); rotate: the old key's lifetime",
    )
    parser.add_argument(
        "--to-parameter",
        type=_parameter_name,
        metavar="NAME",
        help="write the key into this SSM parameter (SecureString) and print nothing of it",
    )


def _lifetime(text: str) -> timedelta:
    match = _DURATION.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError("a lifetime is a number and h, d or w, e.g. 90d")
    lifetime = int(match[1]) * _UNITS[match[2]]
    if lifetime > LONGEST_LIFE:
        raise argparse.ArgumentTypeError("a key lives at most 5 years")
    return lifetime


def _parameter_name(text: str) -> str:
    if not _PARAMETER.fullmatch(text):
        raise argparse.ArgumentTypeError("an SSM parameter name is a path, e.g. /a/b/name")
    return text


def _key_name(text: str) -> str:
    # A name starts with a letter, so it is never mistaken for an id.
    if not _NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            "a key name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter"
        )
    return text


def _migrate(args: argparse.Namespace, settings: Settings, credentials: CredentialsSource) -> int:
    """Apply the pending schema migrations (the service also does at start-up)."""
    applied = upgrade(migration_credentials(settings, credentials).current(), settings)
    for revision in applied:
        print(f"applied {revision}")
    if not applied:
        print("the schema is up to date")
    return 0


def _db_users(args: argparse.Namespace, settings: Settings, credentials: CredentialsSource) -> int:
    """Log in as the master user; create or update the app and migration users and grants."""
    if not settings.db_admin_secret_arn:
        raise ConfigError("DB_ADMIN_SECRET_ARN", "is required by db-users (the master secret)")
    if not settings.db_migration_secret_arn:
        raise ConfigError("DB_MIGRATION_SECRET_ARN", "is required by db-users")
    # The service's user as it logs in (PARAM_USER_PATH, else its secret's username).
    service = credentials.current()
    admin = secret_login(settings, "DB_ADMIN_SECRET_ARN", settings.db_admin_secret_arn, service)
    migration = migration_credentials(settings, credentials).current()
    if migration.user in (service.user, admin.user):
        raise ConfigError("DB_MIGRATION_SECRET_ARN", "must name a user of its own")
    if service.user == admin.user:
        raise ConfigError("DB_SECRET_ARN", "names the master user: the service needs its own")
    try:
        with (
            plain_connection(admin, settings, READ_TIMEOUT_SECONDS) as conn,
            map_driver_errors(mid_statement=True),
        ):
            ensure_users(
                conn,
                service.database,
                app=(service.user, service.password),
                migration=(migration.user, migration.password),
            )
    except StatementRejected as exc:
        print(f"the database refused: {exc}", file=sys.stderr)
        return 1
    print(
        f"database users ready on {service.database}: {service.user} (SELECT, INSERT, UPDATE,"
        f" DELETE), {migration.user} (ALL)"
    )
    return 0


def _create_key(
    args: argparse.Namespace, settings: Settings, credentials: CredentialsSource
) -> int:
    """Create the key named --name with --role, and print it once (or put it into SSM)."""

    async def work(db: Database) -> int:
        expires = _now() + args.expires if args.expires else None
        try:
            key, secret = await create_key(
                db, args.name, args.role, expires, _delivery(settings, args.to_parameter)
            )
        except DuplicateKeyName:
            print(f"a key named {args.name!r} exists already (names are never reused; "
                  "`keys rotate` replaces a key)", file=sys.stderr)  # fmt: skip
            return 1
        await record(db, _cli_entry("keys.create", key))
        _hand_over(key, secret, args.to_parameter, f"created key {key.id} {key.name!r}")
        return 0

    return _on_database(settings, credentials, work)


def _rotate_key(
    args: argparse.Namespace, settings: Settings, credentials: CredentialsSource
) -> int:
    """Issue a new key for NAME (its role, the next rotation) and revoke the current one."""

    async def work(db: Database) -> int:
        old = await find_key(db, args.key)
        if old is None:
            print(f"no key named {args.key!r}", file=sys.stderr)
            return 1
        if args.expires:
            expires: datetime | None = _now() + args.expires
        elif old.expires_at is not None:
            expires = _now() + (old.expires_at - old.created_at)
        else:
            expires = None
        try:
            key, secret = await rotate_key(db, old, expires, _delivery(settings, args.to_parameter))
        except DuplicateKeyName:
            print(f"{args.key!r} was rotated meanwhile by someone else: run `keys list`",
                  file=sys.stderr)  # fmt: skip
            return 1
        await record(db, _cli_entry("keys.rotate", key, replaced=old.id))
        _hand_over(key, secret, args.to_parameter, f"key {key.id} {key.name!r} replaces key "
                   f"{old.id}, revoked now")  # fmt: skip
        return 0

    return _on_database(settings, credentials, work)


def _delivery(settings: Settings, parameter: str | None) -> Deliver | None:
    """With --to-parameter: put the key into SSM before the key's row commits."""
    if parameter is None:
        return None

    async def deliver(secret: str) -> None:
        await asyncio.to_thread(put_secure_parameter, settings, parameter, secret)

    return deliver


def _hand_over(key: StaffKey, secret: str, parameter: str | None, done: str) -> None:
    expiry = f", expires {_time(key.expires_at)}" if key.expires_at else ""
    if parameter is not None:
        # Nothing of the key on any stream: this task's output goes to CloudWatch Logs.
        print(f"{done} ({key.role}{expiry}): written to the SecureString {parameter}",
              file=sys.stderr)  # fmt: skip
        return
    print(secret)
    print(f"{done} ({key.role}{expiry}): copy the line above now, it is not shown again",
          file=sys.stderr)  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _list_keys(args: argparse.Namespace, settings: Settings, credentials: CredentialsSource) -> int:
    """Print every key's id, name and times."""

    async def work(db: Database) -> int:
        rows = [("ID", "NAME", "ROTATION", "ROLE", "CREATED", "EXPIRES", "LAST USED", "REVOKED")]
        rows += [
            (str(k.id), k.name, str(k.rotation), k.role, _time(k.created_at),
             _time(k.expires_at), _time(k.last_used_at), _time(k.revoked_at))
            for k in await list_keys(db)
        ]  # fmt: skip
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            print("  ".join(cells).rstrip())
        return 0

    return _on_database(settings, credentials, work)


def _revoke_key(
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

    return _on_database(settings, credentials, work)


def _cli_entry(action: str, key: StaffKey, **more: object) -> AuditEntry:
    # No request id from a shell: the operating-system user says who did it.
    detail: dict[str, object] = {
        "key_id": key.id,
        "role": key.role,
        "via": "cli",
        "by": getpass.getuser(),
        **more,
    }
    return AuditEntry(key.name, action, detail, row_count=None, request_id=None)


def _time(value: datetime | None) -> str:
    return value.isoformat() + "Z" if value is not None else "-"


async def _create_database(conn: Connection, name: str) -> None:
    # Called only when the server said the database does not exist.
    await create_database(conn, name)
    print(f"created the database {name!r} (it did not exist)", file=sys.stderr)


def _on_database(
    settings: Settings, credentials: CredentialsSource, work: Callable[[Database], Awaitable[int]]
) -> int:
    async def main() -> int:
        # As the server does: a local run creates its database; in AWS it is provisioned.
        db = Database(
            settings, credentials, create_database=None if settings.aws_mode else _create_database
        )
        try:
            await db.open()
            # The service would apply pending steps at its start; a key needs its table now.
            migrator = migration_credentials(settings, credentials)
            await asyncio.to_thread(lambda: upgrade(migrator.current(), settings))
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(main())
