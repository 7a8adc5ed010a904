"""Schema migrations: from the old service's table, from several processes at once, at start-up."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from models.migrations import HEAD
from models.migrations.runner import alembic_config
from models.schema import CREATE_USERS_TABLE
from tests.support.app_client import SettingsFactory, serve
from tests.support.cli import cli_environment, run_cli, start_cli
from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration
from tests.support.service_process import ROOT
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.anyio

SCRIPT = ScriptDirectory.from_config(alembic_config())
STEPS = [script.revision for script in reversed(list(SCRIPT.walk_revisions()))]
OLD_ROWS = [
    ("0b6f3f3e-8d0a-4f5e-9a53-1f2d3c4b5a69", "Ada Lovelace", "ada@example.com", "5551234567",
     "engineering", "2023-09-01 08:30:00"),
    ("1c7a4a4f-9e1b-4a6f-8b64-2a3e4d5c6b7a", "Old Style", "Old.Style@Example.com",
     "555-123-4567", None, "2023-09-02 09:00:00"),
    ("2d8b5b50-af2c-4b70-9c75-3b4f5e6d7c8b", "No Phone", "nophone@example.com", None,
     "arts", "2024-01-15 12:00:00"),
]  # fmt: skip


def versions(mysql: MySQLTarget, database: str) -> list[tuple[object, ...]]:
    return mysql.execute("SELECT version_num FROM alembic_version", database=database)


def show_create_users(mysql: MySQLTarget, database: str) -> str:
    [(_, ddl)] = mysql.execute("SHOW CREATE TABLE users", database=database)
    return str(ddl)


def test_head_names_the_newest_step_and_each_file_its_step() -> None:
    assert SCRIPT.get_current_head() == HEAD
    assert STEPS[0] == "0001_users"
    for script in SCRIPT.walk_revisions():
        assert Path(script.path).stem == script.revision


async def test_the_old_services_table_and_rows_are_kept_as_they_are(
    mysql: MySQLTarget, fresh_database: str, make_settings: SettingsFactory
) -> None:
    mysql.execute(CREATE_USERS_TABLE, database=fresh_database)
    for row in OLD_ROWS:
        mysql.execute(
            "INSERT INTO users (id, name, email, phone, program, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            row,
            database=fresh_database,
        )
    table_before = show_create_users(mysql, fresh_database)
    rows_before = mysql.execute("SELECT * FROM users ORDER BY id", database=fresh_database)

    result = run_cli(["migrate"], mysql.environment(fresh_database))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"applied {step}" for step in STEPS]
    assert show_create_users(mysql, fresh_database) == table_before
    assert mysql.execute("SELECT * FROM users ORDER BY id", database=fresh_database) == rows_before
    assert versions(mysql, fresh_database) == [(HEAD,)]
    # The service works on the kept table: new rows go in, old addresses stay taken.
    async with serve(make_settings(db_name=fresh_database)) as client:
        assert (await client.post("/api/register", json=registration())).status_code == 201
        taken = registration(email="OLD.STYLE@example.com")
        assert (await client.post("/api/register", json=taken)).status_code == 409


def test_a_second_run_applies_nothing(mysql: MySQLTarget, fresh_database: str) -> None:
    environment = mysql.environment(fresh_database)
    assert run_cli(["migrate"], environment).returncode == 0

    again = run_cli(["migrate"], environment)

    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["the schema is up to date"]
    assert versions(mysql, fresh_database) == [(HEAD,)]


def test_concurrent_migrations_apply_each_step_once(
    mysql: MySQLTarget, fresh_database: str
) -> None:
    environment = mysql.environment(fresh_database)
    processes = [start_cli(["migrate"], environment) for _ in range(4)]
    outputs = [process.communicate(timeout=120) for process in processes]

    assert [process.returncode for process in processes] == [0] * 4, outputs
    applied = [
        line for out, _ in outputs for line in out.splitlines() if line.startswith("applied")
    ]
    assert sorted(applied) == sorted(f"applied {step}" for step in STEPS)
    assert versions(mysql, fresh_database) == [(HEAD,)]
    assert mysql.execute("SELECT COUNT(*) FROM users", database=fresh_database) == [(0,)]


def test_a_database_newer_than_the_code_is_left_as_it_is(
    mysql: MySQLTarget, fresh_database: str
) -> None:
    environment = mysql.environment(fresh_database)
    assert run_cli(["migrate"], environment).returncode == 0
    mysql.execute("UPDATE alembic_version SET version_num = '9999_from_newer_code'",
                  database=fresh_database)  # fmt: skip

    result = run_cli(["migrate"], environment)

    assert result.returncode == 0, result.stderr
    assert "newer than this code" in result.stderr
    assert versions(mysql, fresh_database) == [("9999_from_newer_code",)]


def test_a_database_that_cannot_be_reached_fails_with_one_clear_line(
    mysql: MySQLTarget, fresh_database: str
) -> None:
    with TcpProxy(mysql.host, mysql.port) as proxy:
        proxy.refuse()
        environment = {**mysql.environment(fresh_database), "DB_PORT": str(proxy.port)}
        result = run_cli(["migrate"], environment)

    assert result.returncode == 1
    assert result.stderr.startswith("database unavailable: cannot migrate:")
    assert result.stderr.count("\n") == 1


# Starts the service's lifespan on the database in DB_NAME, makes one query, and
# prints whether Alembic or SQLAlchemy were ever imported.
_START_AND_REPORT_IMPORTS = """
import asyncio, sys
from config.settings import load_settings
from index import create_app

async def main() -> None:
    app = create_app(load_settings())
    async with app.router.lifespan_context(app):
        await app.state.database.fetch_one("SELECT 1 FROM users")
    print(sorted({m.split(".")[0] for m in sys.modules} & {"alembic", "sqlalchemy"}))

asyncio.run(main())
"""


def start_service_and_report_imports(environment: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", _START_AND_REPORT_IMPORTS],
        cwd=ROOT,
        env=cli_environment(environment),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # The migrating child's log lines come first; the imports are the last line.
    return result.stdout.strip().splitlines()[-1]


def test_a_start_migrates_a_new_database_in_a_child_and_never_loads_alembic(
    mysql: MySQLTarget, fresh_database: str
) -> None:
    # No metrics line on stdout at the stop: the imports are all it prints.
    environment = {**mysql.environment(fresh_database), "METRICS_INTERVAL_SECONDS": "off"}

    assert start_service_and_report_imports(environment) == "[]"
    assert versions(mysql, fresh_database) == [(HEAD,)]
    assert start_service_and_report_imports(environment) == "[]"


async def test_a_database_down_at_start_up_is_migrated_when_it_comes_back(
    mysql: MySQLTarget, fresh_database: str, make_settings: SettingsFactory
) -> None:
    with TcpProxy(mysql.host, mysql.port) as proxy:
        proxy.refuse()
        settings = make_settings(db_host=proxy.host, db_port=proxy.port, db_name=fresh_database)
        async with serve(settings) as client:
            assert (await client.get("/health")).status_code == 200
            assert (await client.post("/api/register", json=registration())).status_code == 503
            proxy.forward()
            for _ in range(100):
                answer = await client.post("/api/register", json=registration())
                if answer.status_code != 503:
                    break
                await asyncio.sleep(0.05)
            assert answer.status_code == 201, answer.text
    assert versions(mysql, fresh_database) == [(HEAD,)]


def test_keys_from_before_roles_become_admin_keys_that_never_expire(
    mysql: MySQLTarget, fresh_database: str
) -> None:
    environment = cli_environment(mysql.environment(fresh_database))
    assert run_cli(["migrate"], environment).returncode == 0
    # Back to 0005 (0006's own downgrade), with a key as 0002 stored them.
    mysql.execute(
        "ALTER TABLE staff_keys DROP INDEX staff_keys_name, ADD UNIQUE KEY staff_keys_name (name),"
        " DROP COLUMN rotation, DROP COLUMN expires_at, DROP COLUMN role",
        database=fresh_database,
    )
    mysql.execute("UPDATE alembic_version SET version_num = '0005_mail_events'",
                  database=fresh_database)  # fmt: skip
    mysql.execute(
        "INSERT INTO staff_keys (name, key_hash) VALUES ('old-key', REPEAT('k', 32))",
        database=fresh_database,
    )

    migrated = run_cli(["migrate"], environment)

    assert migrated.stdout == "applied 0006_staff_key_roles\n", migrated.stderr
    rows = mysql.execute(
        "SELECT name, role, expires_at, rotation FROM staff_keys", database=fresh_database
    )
    assert rows == [("old-key", "admin", None, 0)]
    # From now on a key states its role: the column has no default.
    default = mysql.execute(
        "SELECT COLUMN_DEFAULT FROM information_schema.columns WHERE table_schema = %s"
        " AND table_name = 'staff_keys' AND column_name = 'role'",
        (fresh_database,),
    )
    assert default == [(None,)]
