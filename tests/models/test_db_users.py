"""Least privilege at the database, on the real server: the service's user reads and writes
rows only; the migrations log in as a user of their own (DB_MIGRATION_SECRET_ARN)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pymysql
import pytest

from config.credentials import Credentials
from models.db.sync import plain_connection
from models.db_users import ensure_users
from tests.support.app_client import SettingsFactory, serve
from tests.support.moto_aws import MotoAws
from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration

pytestmark = pytest.mark.anyio

# MySQL's "command denied to user" (ER_TABLEACCESS_DENIED_ERROR).
COMMAND_DENIED = 1142


@pytest.fixture
def two_users(
    mysql: MySQLTarget, fresh_database: str, make_settings: SettingsFactory
) -> Iterator[tuple[tuple[str, str], tuple[str, str]]]:
    """(app user, password) and (migration user, password), made by `ensure_users` as root."""
    tag = uuid.uuid4().hex[:8]
    app, migration = (f"t_app_{tag}", uuid.uuid4().hex), (f"t_mig_{tag}", uuid.uuid4().hex)
    root = Credentials(mysql.host, mysql.port, mysql.user, fresh_database, mysql.password)
    settings = make_settings(db_name=fresh_database)
    for _ in range(2):  # twice: the second run must change nothing and fail on nothing
        with plain_connection(root, settings, 10) as conn:
            ensure_users(conn, fresh_database, app=app, migration=migration)
    yield app, migration
    for user, _ in (app, migration):
        mysql.drop_user(user)


def refused(mysql: MySQLTarget, login: tuple[str, str], database: str, sql: str) -> int:
    """The error code the server answers `sql` with, as `login`; 0 if it ran."""
    user, password = login
    conn = pymysql.connect(
        host=mysql.host, port=mysql.port, user=user, password=password, database=database
    )
    with contextlib.closing(conn), conn.cursor() as cursor:
        try:
            cursor.execute(sql)
        except pymysql.err.OperationalError as exc:
            return int(exc.args[0])
    return 0


async def test_the_service_registers_as_a_dml_user_and_migrates_as_the_migration_user(
    two_users: tuple[tuple[str, str], tuple[str, str]],
    aws: MotoAws,
    mysql: MySQLTarget,
    fresh_database: str,
    make_settings: SettingsFactory,
) -> None:
    app, migration = two_users
    as_app = {"db_name": fresh_database, "db_user": app[0], "db_password": app[1]}

    # Without the migration user, the service's own user cannot create the tables.
    async with serve(make_settings(**as_app)) as http:
        assert (await http.post("/api/register", json=registration())).status_code == 503

    secret = aws.create_secret({"username": migration[0], "password": migration[1]})
    async with serve(make_settings(**as_app, db_migration_secret_arn=secret)) as http:
        answer = await http.post("/api/register", json=registration())
        assert answer.status_code == 201, answer.text

    tables = mysql.execute("SHOW TABLES", database=fresh_database)
    assert ("users",) in tables
    assert ("mail_outbox",) in tables
    # The server itself refuses the service's user any change to the schema.
    for sql in (
        "ALTER TABLE users ADD COLUMN nickname VARCHAR(10)",
        "DROP TABLE users",
        "CREATE TABLE intruder (id INT)",
    ):
        assert refused(mysql, app, fresh_database, sql) == COMMAND_DENIED, sql
    assert refused(mysql, app, fresh_database, "SELECT COUNT(*) FROM users") == 0
    assert refused(mysql, migration, fresh_database, "CREATE TABLE allowed (id INT)") == 0


def test_ensure_users_grants_exactly_dml_to_the_app_and_all_to_the_migrations(
    two_users: tuple[tuple[str, str], tuple[str, str]], mysql: MySQLTarget, fresh_database: str
) -> None:
    (app, _), (migration, _) = two_users
    app_grants = " ".join(row[0] for row in mysql.execute(f"SHOW GRANTS FOR '{app}'@'%'"))
    assert f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{fresh_database}`.*" in app_grants
    assert "ALL PRIVILEGES" not in app_grants
    grants = " ".join(row[0] for row in mysql.execute(f"SHOW GRANTS FOR '{migration}'@'%'"))
    assert f"GRANT ALL PRIVILEGES ON `{fresh_database}`.*" in grants
