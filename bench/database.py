"""Throw-away databases on the local server, through tests/support's MySQLTarget.

Every server finds the service's schema at its newest migration in its
database, as a restarted production service does, so start-up measures the
usual path (a first migration imports Alembic: about 0.5 s and 22 MB).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pymysql

from bench.errors import BenchError
from bench.options import Options
from tests.support.cli import run_cli
from tests.support.mysql_target import MySQLTarget


def ensure_loopback(host: str) -> None:
    """Refuse any database host off this machine: the benchmark's traffic stays on loopback."""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise BenchError(f"database host {host!r} is not a loopback address; refusing to load it")


def open_target(opts: Options) -> tuple[MySQLTarget, str]:
    """The server of the command line and its version; BenchError when it does not answer."""
    target = MySQLTarget(
        opts.db_host, opts.db_port, opts.db_user, opts.db_password, origin="the command line"
    )
    try:
        version = target.execute("SELECT VERSION()")[0][0]
    except pymysql.MySQLError as exc:
        raise BenchError(
            f"cannot connect to MariaDB at {opts.db_host}:{opts.db_port}: {exc}"
        ) from exc
    return target, str(version)


def create_with_table(target: MySQLTarget, name: str) -> None:
    """A fresh database migrated by `python index.py migrate`, as an operator does it."""
    target.drop_database(name)
    target.create_database(name)
    done = run_cli(["migrate"], target.environment(name))
    if done.returncode != 0:
        raise BenchError(f"cannot migrate {name}: {done.stderr.strip()}")


def count_rows(target: MySQLTarget, name: str, emails: Sequence[str] = ()) -> int:
    """Rows in NAME.users, or only those with one of EMAILS when given."""
    if not emails:
        return int(target.execute(f"SELECT COUNT(*) FROM `{name}`.users")[0][0])
    marks = ",".join(["%s"] * len(emails))
    sql = f"SELECT COUNT(*) FROM `{name}`.users WHERE email IN ({marks})"
    return int(target.execute(sql, tuple(emails))[0][0])


def drop_all(target: MySQLTarget, prefix: str) -> None:
    """Drop every database of this run still there (after a failure or interrupt)."""
    for (name,) in target.execute("SHOW DATABASES LIKE %s", (prefix + "%",)):
        target.drop_database(str(name))
