"""AWS mode end to end: Parameter Store and Secrets Manager (moto's server), real MySQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from config.credentials import DirectCredentials, migration_credentials
from config.errors import ConfigError
from config.settings import Settings
from tests.support.app_client import serve
from tests.support.moto_aws import MotoAws
from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration
from tests.support.service_process import ServiceProcess, run_to_exit

pytestmark = pytest.mark.anyio

MISSING_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf"


# The shared test server need not offer TLS, and AWS mode's default TLS needs the
# RDS bundle of the image: tests/models/db/test_tls_server.py covers both.
NO_TLS = "disabled"


def aws_settings(**values: Any) -> Settings:
    # Direct DB_* values that would point elsewhere: AWS mode must ignore them.
    return Settings(
        db_host="192.0.2.1", db_user="nobody", db_name="nothing", db_ssl_mode=NO_TLS, **values
    )


async def test_the_service_starts_from_parameters_and_secret(
    aws: MotoAws, mysql: MySQLTarget, database: str, app_user: tuple[str, str]
) -> None:
    user, password = app_user
    settings = aws_settings(
        param_host_path=aws.put_parameter(mysql.host),
        param_db_name_path=aws.put_parameter(database),
        param_user_path=aws.put_parameter(user),
        db_secret_arn=aws.create_secret(
            {"password": password, "username": "ignored", "port": mysql.port}
        ),
    )
    async with serve(settings) as client:
        assert (await client.get("/health/ready")).status_code == 200
        response = await client.post("/api/register", json=registration())
        assert response.status_code == 201
    [(stored_by,)] = mysql.execute(
        "SELECT COUNT(*) FROM users WHERE id = %s", (response.json()["id"],), database=database
    )
    assert stored_by == 1


async def test_the_secret_supplies_what_no_parameter_names(
    aws: MotoAws, mysql: MySQLTarget, database: str, app_user: tuple[str, str]
) -> None:
    user, password = app_user
    settings = aws_settings(
        db_secret_arn=aws.create_secret(
            {
                "username": user,
                "password": password,
                "host": mysql.host,
                "port": str(mysql.port),
                "dbname": database,
            }
        ),
        param_user_path=aws.put_parameter(" "),  # empty: the secret's username is used
    )
    async with serve(settings) as client:
        assert (await client.post("/api/register", json=registration())).status_code == 201


def process_environment(aws: MotoAws, **variables: str) -> dict[str, str]:
    return {**aws.environment, "DB_SSL_MODE": NO_TLS, **variables}


def test_the_real_process_serves_in_aws_mode(
    aws: MotoAws, mysql: MySQLTarget, database: str, app_user: tuple[str, str], tmp_path: Path
) -> None:
    user, password = app_user
    environment = process_environment(
        aws,
        PARAM_HOST_PATH=aws.put_parameter(mysql.host),
        PARAM_DB_NAME_PATH=aws.put_parameter(database),
        PARAM_USER_PATH=aws.put_parameter(user),
        DB_SECRET_ARN=aws.create_secret({"password": password, "port": mysql.port}),
    )
    with ServiceProcess(environment, tmp_path / "service.log") as service:
        answer = httpx.post(f"{service.base_url}/api/register", json=registration(), timeout=10)
        assert answer.status_code == 201
        assert httpx.get(f"{service.base_url}/health/ready", timeout=5).status_code == 200
    assert password not in service.log()


@pytest.mark.parametrize(
    ("variables", "named", "problem"),
    [
        (
            {"DB_SECRET_ARN": "not-an-arn"},
            "DB_SECRET_ARN",
            "must start with arn:aws:secretsmanager:",
        ),
        (
            {"DB_SECRET_ARN": MISSING_SECRET_ARN},
            "DB_SECRET_ARN",
            "does not exist",
        ),
        ({"PARAM_HOST_PATH": "/schoolapp/missing/host"}, "PARAM_HOST_PATH", "does not exist"),
        ({"PARAM_DB_NAME_PATH": "/schoolapp/missing/db"}, "PARAM_DB_NAME_PATH", "does not exist"),
        ({"DB_POOL_MAX": "many"}, "DB_POOL_MAX", "integer"),
        ({"DB_POOL_MIN": "5", "DB_POOL_MAX": "2"}, "DB_POOL_MIN", "must not exceed DB_POOL_MAX"),
        ({"PROGRAMS": ","}, "PROGRAMS", "lists no program"),
    ],
)
def test_a_configuration_that_cannot_work_stops_start_up_with_one_line(
    aws: MotoAws,
    tmp_path: Path,
    variables: dict[str, str],
    named: str,
    problem: str,
) -> None:
    environment = process_environment(aws, **variables)
    if "PARAM_HOST_PATH" in variables or "PARAM_DB_NAME_PATH" in variables:
        environment["DB_SECRET_ARN"] = aws.create_secret(
            {"password": "x", "host": "h", "dbname": "d"}
        )
    code, output = run_to_exit(environment, tmp_path / "service.log")
    lines = output.strip().splitlines()
    assert code != 0
    assert len(lines) == 1, output
    assert lines[0].startswith(f"configuration error: {named}:")
    assert problem in lines[0]


def test_a_database_that_is_down_does_not_stop_start_up(
    aws: MotoAws, database: str, tmp_path: Path
) -> None:
    environment = process_environment(
        aws,
        PARAM_HOST_PATH=aws.put_parameter("127.0.0.1"),
        PARAM_DB_NAME_PATH=aws.put_parameter(database),
        PARAM_USER_PATH=aws.put_parameter("someone"),
        DB_SECRET_ARN=aws.create_secret({"password": "pw", "port": 1}),
        DB_CONNECT_TIMEOUT="1",
    )
    with ServiceProcess(environment, tmp_path / "service.log") as service:
        assert httpx.get(f"{service.base_url}/health", timeout=5).status_code == 200
        answer = httpx.post(f"{service.base_url}/api/register", json=registration(), timeout=10)
        assert answer.status_code == 503
        assert answer.headers["retry-after"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ({"username": "x'@'%' IDENTIFIED BY 'y", "password": "p"}, "'s username must be 1 to 32"),
        ({"username": "schoolapp_migrate"}, " holds no password"),
        ({"password": "p"}, "'s username must be 1 to 32"),
    ],
)
def test_a_migration_secret_that_cannot_work_names_the_variable(
    aws: MotoAws, content: dict[str, object], problem: str
) -> None:
    service = DirectCredentials(Settings(db_host="db.internal"))
    settings = Settings(db_migration_secret_arn=aws.create_secret(content))
    with pytest.raises(ConfigError, match=f"^DB_MIGRATION_SECRET_ARN: the secret{problem}"):
        migration_credentials(settings, service).current()


def test_the_migration_user_logs_in_where_the_service_does(aws: MotoAws) -> None:
    service = DirectCredentials(Settings(db_host="db.internal"))
    arn = aws.create_secret({"username": "schoolapp_migrate", "password": "s3cret"})
    settings = Settings(db_migration_secret_arn=arn)
    login = migration_credentials(settings, service).current()
    assert (login.host, login.database) == ("db.internal", "schoolapp")
    assert login.user == "schoolapp_migrate"
    assert login.password == "s3cret"
    assert migration_credentials(Settings(), service) is service
