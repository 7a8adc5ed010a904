"""A Secrets Manager rotation: the database takes a new password, old sessions die."""

from __future__ import annotations

import uuid

import httpx
import pytest

from config.settings import Settings
from tests.support.app_client import serve
from tests.support.moto_aws import MotoAws
from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration

pytestmark = pytest.mark.anyio


def kill_sessions(mysql: MySQLTarget, user: str) -> int:
    """Kill every session of `user`, as a rotation that forces re-authentication does."""
    ids = mysql.execute("SELECT id FROM information_schema.processlist WHERE user = %s", (user,))
    for (session,) in ids:
        mysql.execute(f"KILL {int(session)}")
    return len(ids)


async def register(client: httpx.AsyncClient) -> int:
    return (await client.post("/api/register", json=registration())).status_code


async def test_the_service_keeps_registering_across_a_rotation(
    aws: MotoAws, mysql: MySQLTarget, database: str, app_user: tuple[str, str]
) -> None:
    user, password = app_user
    secret = {"username": user, "password": password, "port": mysql.port}
    arn = aws.create_secret(secret)
    settings = Settings(
        param_host_path=aws.put_parameter(mysql.host),
        param_db_name_path=aws.put_parameter(database),
        db_secret_arn=arn,
        db_connect_timeout=2.0,
        db_ssl_mode="disabled",  # the shared test server need not offer TLS
    )
    async with serve(settings) as client:
        assert await register(client) == 201

        # The rotation: new password in the database and in the secret, and
        # the sessions opened with the old one killed.
        new_password = uuid.uuid4().hex
        mysql.execute(f"ALTER USER '{user}'@'%%' IDENTIFIED BY %s", (new_password,))
        aws.rotate_secret(arn, {**secret, "password": new_password})
        assert kill_sessions(mysql, user) >= 1

        # No restart: the next registrations succeed on the new password.
        assert [await register(client) for _ in range(5)] == [201] * 5
        sessions = mysql.execute(
            "SELECT COUNT(*) FROM information_schema.processlist WHERE user = %s", (user,)
        )
        assert sessions[0][0] >= 1


async def test_a_rejected_password_that_the_secret_does_not_fix_is_a_503(
    aws: MotoAws, mysql: MySQLTarget, database: str, app_user: tuple[str, str]
) -> None:
    user, password = app_user
    settings = Settings(
        param_host_path=aws.put_parameter(mysql.host),
        param_db_name_path=aws.put_parameter(database),
        param_user_path=aws.put_parameter(user),
        db_secret_arn=aws.create_secret({"password": password, "port": mysql.port}),
        db_connect_timeout=2.0,
        db_ssl_mode="disabled",  # the shared test server need not offer TLS
    )
    async with serve(settings) as client:
        assert await register(client) == 201
        # The database changed but the secret did not (a rotation half done).
        mysql.execute(f"ALTER USER '{user}'@'%%' IDENTIFIED BY %s", (uuid.uuid4().hex,))
        kill_sessions(mysql, user)
        response = await client.post("/api/register", json=registration())
        assert response.status_code == 503
        assert response.headers["Retry-After"]
        assert (await client.get("/health")).status_code == 200
