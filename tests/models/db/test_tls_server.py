"""TLS to the database, against real servers: encrypted and verified, or refused, never plain.

A private mariadbd (tests/support/mariadb_server.py) serves a certificate for
127.0.0.1 and db.schoolapp.test signed by a CA made here, and refuses plain-text
clients (require_secure_transport=ON, as the stack's RDS parameter group sets it):
any session it accepts is encrypted, and the service's own session says which
cipher it runs (SHOW SESSION STATUS, through the app's Database). A second
mariadbd offers no TLS at all: a required TLS must then fail with one clear line
and 503s, and never open a session in plain text.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.settings import Settings
from index import create_app
from models.db import Database
from tests.support.mariadb_server import MariaDBServer, ServerTls
from tests.support.moto_aws import MotoAws
from tests.support.payloads import registration
from tests.support.service_process import ServiceProcess, run_to_exit
from tests.support.tls_certificates import CertificateAuthority, ServerCertificate

pytestmark = pytest.mark.anyio

SERVER_NAME = "db.schoolapp.test"
# Resolves to 127.0.0.1 as well, but the server's certificate does not name it.
UNNAMED_HOST = "localhost"
APP_USER, APP_PASSWORD = "app", uuid.uuid4().hex
UNAVAILABLE = {"error": "Service temporarily unavailable, please try again"}
NOT_VERIFIED = "the server's certificate failed verification"
NOT_OFFERED = "TLS is required (DB_SSL_MODE) but the server does not offer it"


@dataclass(frozen=True)
class Pki:
    """The server's CA, a CA that signed nothing of the server's, the server's certificate."""

    ca: CertificateAuthority
    other_ca: CertificateAuthority
    server: ServerCertificate


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority(directory)
    return Pki(
        ca=ca,
        other_ca=CertificateAuthority(directory, "other-ca"),
        server=ca.issue("server", ["127.0.0.1", SERVER_NAME]),
    )


def provision(server: MariaDBServer) -> None:
    """The service's database and its own user, as in AWS."""
    server.execute("CREATE DATABASE schoolapp CHARACTER SET utf8mb4")
    server.execute(f"CREATE USER '{APP_USER}'@'%%' IDENTIFIED BY %s", APP_PASSWORD)
    server.execute(f"GRANT ALL PRIVILEGES ON schoolapp.* TO '{APP_USER}'@'%'")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[MariaDBServer]:
    tls = ServerTls(ca=pki.ca.cert, cert=pki.server.cert, key=pki.server.key)
    with MariaDBServer(tmp_path_factory.mktemp("mariadb-tls"), tls=tls) as server:
        provision(server)
        yield server


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    with MariaDBServer(tmp_path_factory.mktemp("mariadb-plain")) as server:
        assert server.execute("SELECT @@have_ssl") == [("DISABLED",)]
        provision(server)
        yield server


def settings_for(server: MariaDBServer, **values: Any) -> Settings:
    """Local-mode settings for the service user on `server`; keyword arguments override."""
    return Settings(
        **{
            "db_host": server.host,
            "db_port": server.port,
            "db_user": APP_USER,
            "db_password": APP_PASSWORD,
            "db_name": "schoolapp",
            "db_connect_timeout": 2.0,
            "db_query_timeout": 2.0,
            "param_host_path": None,
            "param_db_name_path": None,
            "param_user_path": None,
            "db_secret_arn": None,
            **values,
        }
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    """The app with its lifespan running: an HTTP client, and the app's own Database."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield client, app.state.database


async def session_tls(database: Database) -> tuple[str, str]:
    """(Ssl_version, Ssl_cipher) of a session of the service's own pool; empty: plain text."""
    values = []
    for name in ("Ssl_version", "Ssl_cipher"):
        row = await database.fetch_one("SHOW SESSION STATUS LIKE %s", (name,))
        assert row is not None
        values.append(str(row[1]))
    return values[0], values[1]


def rows_for(server: MariaDBServer, email: str) -> int:
    rows = server.execute("SELECT COUNT(*) FROM schoolapp.users WHERE email = %s", email)
    return int(rows[0][0])


async def assert_registers_encrypted(settings: Settings, server: MariaDBServer) -> None:
    async with running(settings) as (client, database):
        assert (await client.get("/health/ready")).status_code == 200
        applicant = registration()
        assert (await client.post("/api/register", json=applicant)).status_code == 201
        version, cipher = await session_tls(database)
    print(f"{settings.db_ssl_mode}: {version} {cipher}")
    assert version in ("TLSv1.2", "TLSv1.3")
    assert cipher
    assert rows_for(server, applicant["email"]) == 1


async def test_verify_identity_registers_over_tls(tls_server: MariaDBServer, pki: Pki) -> None:
    settings = settings_for(tls_server, db_ssl_mode="verify-identity", db_ssl_ca=pki.ca.cert)
    await assert_registers_encrypted(settings, tls_server)


async def test_verify_ca_checks_the_signature_not_the_name(
    tls_server: MariaDBServer, pki: Pki
) -> None:
    settings = settings_for(
        tls_server, db_host=UNNAMED_HOST, db_ssl_mode="verify-ca", db_ssl_ca=pki.ca.cert
    )
    await assert_registers_encrypted(settings, tls_server)


async def test_required_encrypts_without_verifying(tls_server: MariaDBServer) -> None:
    settings = settings_for(tls_server, db_host=UNNAMED_HOST, db_ssl_mode="required")
    await assert_registers_encrypted(settings, tls_server)


async def assert_refused_with_one_line(
    settings: Settings, caplog: pytest.LogCaptureFixture, problem: str
) -> str:
    """Start-up logs one line naming `problem`; requests get 503. Returns the email tried."""
    applicant = registration()
    with caplog.at_level(logging.WARNING, logger="schoolapp"):
        async with running(settings) as (client, _):
            start_up = [r.getMessage() for r in caplog.records if problem in r.getMessage()]
            assert len(start_up) == 1, caplog.text
            print(start_up[0])
            response = await client.post("/api/register", json=applicant)
            assert response.status_code == 503
            assert response.json() == UNAVAILABLE
            assert response.headers["Retry-After"]
            assert (await client.get("/health/ready")).status_code == 503
            assert (await client.get("/health")).status_code == 200
    return str(applicant["email"])


@pytest.mark.parametrize(
    ("mode", "host", "ca", "problem"),
    [
        ("verify-ca", "127.0.0.1", "other_ca", NOT_VERIFIED),
        ("verify-identity", "127.0.0.1", "other_ca", NOT_VERIFIED),
        (
            "verify-identity",
            UNNAMED_HOST,
            "ca",
            "Hostname mismatch, certificate is not valid for 'localhost'",
        ),
    ],
)
async def test_a_certificate_that_fails_verification_is_one_line_and_503s(
    tls_server: MariaDBServer,
    pki: Pki,
    caplog: pytest.LogCaptureFixture,
    mode: str,
    host: str,
    ca: str,
    problem: str,
) -> None:
    authority: CertificateAuthority = getattr(pki, ca)
    settings = settings_for(tls_server, db_host=host, db_ssl_mode=mode, db_ssl_ca=authority.cert)
    email = await assert_refused_with_one_line(settings, caplog, problem)
    assert rows_for(tls_server, email) == 0


@pytest.mark.parametrize("mode", ["required", "verify-ca", "verify-identity"])
async def test_a_required_tls_never_falls_back_to_plain_text(
    plain_server: MariaDBServer, pki: Pki, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    # aiomysql alone carries on in plain text here (CLIENT_SSL missing from the
    # greeting), and the server accepts the login: this test then sees a 201.
    ca = None if mode == "required" else pki.ca.cert
    settings = settings_for(plain_server, db_ssl_mode=mode, db_ssl_ca=ca)
    await assert_refused_with_one_line(settings, caplog, NOT_OFFERED)
    # No session ever got in: the first one would have created the users table.
    tables = plain_server.execute(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'schoolapp'"
    )
    assert tables == [(0,)]


async def test_the_server_refuses_plain_text_as_rds_then_does(tls_server: MariaDBServer) -> None:
    settings = settings_for(tls_server, db_ssl_mode="disabled")
    async with running(settings) as (client, _):
        assert (await client.post("/api/register", json=registration())).status_code == 503


def aws_environment(aws: MotoAws, server: MariaDBServer, host: str, ca: Path) -> dict[str, str]:
    """AWS mode, DB_SSL_MODE unset: its default. DB_SSL_CA stands in for the RDS bundle."""
    return {
        **aws.environment,
        "PARAM_HOST_PATH": aws.put_parameter(host),
        "PARAM_DB_NAME_PATH": aws.put_parameter("schoolapp"),
        "PARAM_USER_PATH": aws.put_parameter(APP_USER),
        "DB_SECRET_ARN": aws.create_secret({"password": APP_PASSWORD, "port": server.port}),
        "DB_SSL_CA": str(ca),
        "DB_CONNECT_TIMEOUT": "2",
    }


def test_the_process_in_aws_mode_verifies_the_server_by_default(
    aws: MotoAws, tls_server: MariaDBServer, pki: Pki, tmp_path: Path
) -> None:
    environment = aws_environment(aws, tls_server, "127.0.0.1", pki.ca.cert)
    with ServiceProcess(environment, tmp_path / "service.log") as service:
        applicant = registration()
        answer = httpx.post(f"{service.base_url}/api/register", json=applicant, timeout=10)
        assert answer.status_code == 201
    assert rows_for(tls_server, applicant["email"]) == 1


def test_the_process_in_aws_mode_refuses_a_host_the_certificate_does_not_name(
    aws: MotoAws, tls_server: MariaDBServer, pki: Pki, tmp_path: Path
) -> None:
    environment = aws_environment(aws, tls_server, UNNAMED_HOST, pki.ca.cert)
    with ServiceProcess(environment, tmp_path / "service.log") as service:
        start_up = [line for line in service.log().splitlines() if NOT_VERIFIED in line]
        assert len(start_up) == 1, service.log()
        assert "Hostname mismatch" in start_up[0]
        answer = httpx.post(f"{service.base_url}/api/register", json=registration(), timeout=10)
        assert answer.status_code == 503
        assert httpx.get(f"{service.base_url}/health", timeout=5).status_code == 200


def test_a_bundle_that_cannot_be_read_stops_start_up_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "global-bundle.pem"
    environment = {"DB_SSL_MODE": "verify-identity", "DB_SSL_CA": str(missing)}
    code, output = run_to_exit(environment, tmp_path / "service.log")
    assert code == 2
    assert output.strip().splitlines() == [
        f"configuration error: DB_SSL_CA: cannot read {missing}: No such file or directory"
    ]
