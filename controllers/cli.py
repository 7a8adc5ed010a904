"""Operators' commands (migrate, keys), run as `python index.py COMMAND`.

They reach the database the service is configured for (local or AWS mode)
with the same variables and credentials. Results go to stdout, problems
to stderr with a non-zero status: 2 for a configuration that cannot work, 1
for a database that cannot be reached or refuses.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from config.credentials import CredentialsSource, credentials_source
from config.errors import ConfigError, DatabaseUnavailable
from config.settings import Settings, load_settings
from controllers.cli_keys import add_commands as add_key_commands
from models.migrations.runner import upgrade

Command = Callable[[argparse.Namespace, Settings, CredentialsSource], int]


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
    command: Command = args.command
    try:
        return command(args, settings, credentials)
    except DatabaseUnavailable as exc:
        print(f"database unavailable: {exc}", file=sys.stderr)
        return 1


def migrate(args: argparse.Namespace, settings: Settings, credentials: CredentialsSource) -> int:
    """Apply the pending schema migrations (the service also does at start-up)."""
    applied = upgrade(credentials.current(), settings)
    for revision in applied:
        print(f"applied {revision}")
    if not applied:
        print("the schema is up to date")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python index.py",
        description="Without a command: serve the API. With one: run it and exit.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    sub = commands.add_parser("migrate", help="apply the pending schema migrations")
    sub.set_defaults(command=migrate)
    add_key_commands(commands)
    return parser
