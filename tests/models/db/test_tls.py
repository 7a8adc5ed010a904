"""DB_SSL_MODE and DB_SSL_CA: defaults by mode, refusals naming DB_SSL_CA, the contexts."""

from __future__ import annotations

import inspect
import ssl
from pathlib import Path

import pytest
from aiomysql.connection import Connection

from config import settings as settings_module
from config.errors import ConfigError
from config.settings import SslMode, load_settings
from models.db.tls import client_context
from tests.support.tls_certificates import CertificateAuthority

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
VARIABLES = (
    "PARAM_HOST_PATH",
    "PARAM_DB_NAME_PATH",
    "PARAM_USER_PATH",
    "DB_SECRET_ARN",
    "DB_SSL_MODE",
    "DB_SSL_CA",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("ca"))


def refusal(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    """The one line a refused configuration gives, after `configuration error: `."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    return str(caught.value)


def test_local_mode_stays_in_plain_text_by_default() -> None:
    settings = load_settings()
    assert (settings.db_ssl_mode, settings.db_ssl_ca) == ("disabled", None)


def test_aws_mode_verifies_the_identity_against_the_rds_bundle_by_default(
    monkeypatch: pytest.MonkeyPatch, authority: CertificateAuthority
) -> None:
    # The bundle's real place (/etc/ssl/rds) exists only in the image.
    monkeypatch.setattr(settings_module, "RDS_CA_BUNDLE", authority.cert)
    monkeypatch.setenv("DB_SECRET_ARN", SECRET_ARN)
    settings = load_settings()
    assert (settings.db_ssl_mode, settings.db_ssl_ca) == ("verify-identity", authority.cert)


def test_aws_mode_without_the_rds_bundle_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "global-bundle.pem"
    monkeypatch.setattr(settings_module, "RDS_CA_BUNDLE", missing)
    assert refusal(monkeypatch, DB_SECRET_ARN=SECRET_ARN) == (
        f"DB_SSL_CA: cannot read {missing}: No such file or directory"
    )


def test_aws_mode_takes_another_mode_and_then_no_default_bundle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DB_SECRET_ARN", SECRET_ARN)
    monkeypatch.setenv("DB_SSL_MODE", "required")
    settings = load_settings()
    assert (settings.db_ssl_mode, settings.db_ssl_ca) == ("required", None)


@pytest.mark.parametrize(
    ("value", "mode"),
    [("VERIFY_IDENTITY", "verify-identity"), ("Verify-CA", "verify-ca"), ("DISABLED", "disabled")],
)
def test_the_mysql_client_spelling_is_accepted(
    monkeypatch: pytest.MonkeyPatch, authority: CertificateAuthority, value: str, mode: str
) -> None:
    monkeypatch.setenv("DB_SSL_MODE", value)
    if mode != "disabled":
        monkeypatch.setenv("DB_SSL_CA", str(authority.cert))
    assert load_settings().db_ssl_mode == mode


def test_preferred_is_not_a_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    # The MySQL client's PREFERRED falls back to plain text: exactly what we refuse.
    line = refusal(monkeypatch, DB_SSL_MODE="preferred")
    assert line.startswith("DB_SSL_MODE: ")
    assert "'verify-identity'" in line


@pytest.mark.parametrize("mode", ["verify-ca", "verify-identity"])
def test_a_verifying_mode_needs_a_bundle(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    assert refusal(monkeypatch, DB_SSL_MODE=mode) == (
        f"DB_SSL_CA: is required with DB_SSL_MODE={mode}"
    )


def test_a_bundle_that_is_not_pem_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    garbage = tmp_path / "bundle.pem"
    garbage.write_text("not a certificate\n")
    assert refusal(monkeypatch, DB_SSL_MODE="verify-ca", DB_SSL_CA=str(garbage)) == (
        f"DB_SSL_CA: {garbage} holds no PEM certificate"
    )


def test_a_server_certificate_is_not_a_ca(
    monkeypatch: pytest.MonkeyPatch, authority: CertificateAuthority
) -> None:
    server = authority.issue("not-a-ca", ["db.example.test"])
    assert refusal(monkeypatch, DB_SSL_MODE="verify-ca", DB_SSL_CA=str(server.cert)) == (
        f"DB_SSL_CA: {server.cert} holds no CA certificate"
    )


def test_a_directory_is_not_a_bundle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert refusal(monkeypatch, DB_SSL_MODE="verify-identity", DB_SSL_CA=str(tmp_path)) == (
        f"DB_SSL_CA: cannot read {tmp_path}: Is a directory"
    )


@pytest.mark.parametrize("mode", ["disabled", "required"])
def test_a_bundle_with_a_mode_that_verifies_nothing_is_refused(
    monkeypatch: pytest.MonkeyPatch, authority: CertificateAuthority, mode: str
) -> None:
    assert refusal(monkeypatch, DB_SSL_MODE=mode, DB_SSL_CA=str(authority.cert)) == (
        f"DB_SSL_CA: verifies nothing with DB_SSL_MODE={mode}; use verify-ca or verify-identity"
    )


@pytest.mark.parametrize(
    ("mode", "verify_mode", "check_hostname"),
    [
        ("required", ssl.CERT_NONE, False),
        ("verify-ca", ssl.CERT_REQUIRED, False),
        ("verify-identity", ssl.CERT_REQUIRED, True),
    ],
)
def test_each_mode_gets_the_mysql_client_meaning(
    authority: CertificateAuthority,
    mode: SslMode,
    verify_mode: ssl.VerifyMode,
    check_hostname: bool,
) -> None:
    context = client_context(mode, authority.cert if mode != "required" else None)
    assert context is not None
    assert (context.verify_mode, context.check_hostname) == (verify_mode, check_hostname)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_disabled_gives_no_context() -> None:
    assert client_context("disabled", None) is None


def test_the_plain_text_guard_wraps_the_step_aiomysql_calls_before_the_login() -> None:
    # aiomysql has no hook for this, so models/db/tls.py wraps a private method; this
    # fails loudly when an aiomysql upgrade renames it or stops calling it on connect.
    client_context("required", None)
    method = Connection._request_authentication
    assert getattr(method, "__wrapped__", None) is not None, "the guard is not installed"
    assert "self._request_authentication()" in inspect.getsource(Connection._connect), (
        "aiomysql no longer authenticates through _request_authentication: revisit models/db/tls.py"
    )
