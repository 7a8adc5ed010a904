"""Fixtures every test may use: the database server, settings, the app over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.credentials import DirectCredentials
from config.settings import Settings
from models.db import Database
from models.migrations.runner import upgrade
from tests.support.app_client import CORS_ORIGIN, SettingsFactory, serve
from tests.support.environment import service_variables
from tests.support.moto_aws import MotoAws, moto_server
from tests.support.mysql_target import MySQLTarget, mysql_target
from tests.support.staff import Staff, staff_app

# The mail settings, and boto3's per-service endpoint that points SES at moto.
MAIL_VARIABLE_PREFIXES = ("MAIL_", "SCHOOL_", "AWS_ENDPOINT_URL_")


@pytest.fixture(autouse=True)
def _mail_stays_in_the_test(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An app under test writes its emails (local mode: `.eml` files) into the test's folder.

    Without it every registration of the suite would leave a file in the repository,
    and a developer's mail variables would change what the tests send.
    """
    for name in service_variables():
        if name.startswith(MAIL_VARIABLE_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAIL_DIR", str(tmp_path / "mail"))


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """The service runs on asyncio (uvloop in production)."""
    return "asyncio"


# Which server the run used, for the report's last lines.
MYSQL_SERVER = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def mysql(pytestconfig: pytest.Config) -> Iterator[MySQLTarget]:
    """The real MySQL-compatible server of this run (see tests/support/mysql_target.py)."""
    with mysql_target() as target:
        pytestconfig.stash[MYSQL_SERVER] = target.describe()
        yield target


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Say which server the tests talked to (testcontainers, TEST_MYSQL_URL or local)."""
    if MYSQL_SERVER in config.stash:
        terminalreporter.write_line(f"MySQL server: {config.stash[MYSQL_SERVER]}")


@pytest.fixture(scope="session")
def database(mysql: MySQLTarget) -> Iterator[str]:
    """A database of this run's own, dropped at the end."""
    name = mysql.create_database()
    yield name
    mysql.drop_database(name)


@pytest.fixture
def fresh_database(mysql: MySQLTarget) -> Iterator[str]:
    """An empty database for one test, dropped after it."""
    name = mysql.create_database()
    yield name
    mysql.drop_database(name)


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoAws]:
    """moto's server on a loopback port, for the AWS mode's real boto3 calls."""
    with moto_server() as server:
        yield server


@pytest.fixture
def aws(moto: MotoAws, monkeypatch: pytest.MonkeyPatch) -> MotoAws:
    """moto, with this process's boto3 pointed at it for one test."""
    for name, value in moto.environment.items():
        monkeypatch.setenv(name, value)
    return moto


@pytest.fixture
def app_user(mysql: MySQLTarget, database: str) -> Iterator[tuple[str, str]]:
    """A database user (name, password) of its own, as the service has in AWS."""
    user, password = mysql.create_user(database)
    yield user, password
    mysql.drop_user(user)


@pytest.fixture
def make_settings(mysql: MySQLTarget, database: str) -> SettingsFactory:
    """Settings for the test server in local mode; keyword arguments override."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "db_host": mysql.host,
            "db_port": mysql.port,
            "db_user": mysql.user,
            "db_password": mysql.password,
            "db_name": database,
            "db_connect_timeout": 2.0,
            "db_query_timeout": 3.0,
            "cors_origins": (CORS_ORIGIN,),
            # Whatever the environment says, these tests run in local mode.
            "param_host_path": None,
            "param_db_name_path": None,
            "param_user_path": None,
            "db_secret_arn": None,
            # Suites register far more than 20 a minute from one address; the
            # rate-limit tests turn the limits on.
            "rate_limit_register": "off",
            "rate_limit_mismatch": "off",
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    """Local-mode settings against this run's database."""
    return make_settings()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the app in local mode."""
    async with serve(settings) as http:
        yield http


@pytest.fixture
def staff_settings(make_settings: SettingsFactory, fresh_database: str) -> Settings:
    """Settings of the `staff` fixture's app; a test module may override this fixture."""
    return make_settings(db_name=fresh_database)


@pytest.fixture
async def staff(
    staff_settings: Settings, mysql: MySQLTarget, fresh_database: str
) -> AsyncIterator[Staff]:
    """The app over HTTP on a database of its own, with a staff key made for it."""
    async for app in staff_app(staff_settings, mysql, fresh_database):
        yield app


@pytest.fixture
async def migrated_db(
    make_settings: SettingsFactory, fresh_database: str
) -> AsyncIterator[Database]:
    """The models' view of a migrated database of the test's own (no app, no HTTP)."""
    settings = make_settings(db_name=fresh_database)
    credentials = DirectCredentials(settings)
    upgrade(credentials.current(), settings)
    database = Database(settings, credentials)
    yield database
    await database.close()
