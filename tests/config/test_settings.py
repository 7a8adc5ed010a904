"""Settings from the environment: defaults, parsing, and refusals naming the variable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from config.errors import ConfigError
from config.settings import DEFAULT_PROGRAMS, Program, Settings, load_settings, parse_programs
from tests.support.environment import settings_variables

# AWS mode's default TLS needs the RDS CA bundle, which only the image holds;
# tests/models/db/test_tls.py covers that default.
NO_RDS_BUNDLE = ("DB_SSL_MODE", "required")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    variables = settings_variables()
    for name in list(os.environ):
        if name.upper() in variables:  # Settings reads names case-insensitively
            monkeypatch.delenv(name)


def test_defaults_serve_the_local_database() -> None:
    settings = load_settings()
    assert (settings.port, settings.db_host, settings.db_port) == (3000, "127.0.0.1", 3306)
    assert (settings.db_user, settings.db_name) == ("root", "schoolapp")
    assert settings.db_password.get_secret_value() == ""
    assert settings.aws_region == "us-east-1"
    assert settings.programs == DEFAULT_PROGRAMS
    assert (settings.log_level, settings.log_format) == ("info", "auto")
    assert not settings.aws_mode


def test_any_aws_variable_selects_aws_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:db")
    monkeypatch.setenv(*NO_RDS_BUNDLE)
    assert load_settings().aws_mode


def test_parameters_without_a_secret_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARAM_HOST_PATH", "/schoolapp/host")
    monkeypatch.setenv(*NO_RDS_BUNDLE)
    with pytest.raises(ConfigError, match=r"^DB_SECRET_ARN: is required"):
        load_settings()


def test_a_malformed_secret_arn_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_SECRET_ARN", "my-secret")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.variable == "DB_SECRET_ARN"
    assert str(caught.value) == "DB_SECRET_ARN: must start with arn:aws:secretsmanager:"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "0"),
        ("PORT", "http"),
        ("DB_PORT", "70000"),
        ("DB_POOL_MAX", "0"),
        ("DB_CONNECT_TIMEOUT", "-1"),
        ("DB_NAME", "a`; DROP"),
        ("LOG_LEVEL", "chatty"),
        ("LOG_FORMAT", "xml"),
        ("PROGRAMS", " , "),
        ("PROGRAMS", "arts,arts"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.variable == variable


def test_pool_bounds_must_be_ordered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_MIN", "5")
    monkeypatch.setenv("DB_POOL_MAX", "2")
    with pytest.raises(ConfigError, match=r"^DB_POOL_MIN"):
        load_settings()


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_SECRET_ARN", "")
    monkeypatch.setenv("PORT", "")
    settings = load_settings()
    assert not settings.aws_mode
    assert settings.port == 3000


def test_cors_origins_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example/ ,")
    assert load_settings().cors_origins == ("https://a.example", "https://b.example")


def test_levels_and_formats_ignore_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("LOG_FORMAT", "Text")
    settings = load_settings()
    assert (settings.log_level, settings.log_format) == ("debug", "text")


def test_programs_take_values_and_optional_labels() -> None:
    assert parse_programs("nursing, law:Law School ,data-science") == (
        Program("nursing", "Nursing"),
        Program("law", "Law School"),
        Program("data-science", "Data Science"),
    )


def test_the_password_never_shows_in_a_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", "hunter2-very-secret")
    settings = load_settings()
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings)


def test_settings_built_in_code_check_the_pool_bounds_too() -> None:
    with pytest.raises(ValidationError, match="must not exceed DB_POOL_MAX") as caught:
        Settings(db_pool_min=5, db_pool_max=2)
    assert caught.value.errors()[0]["ctx"]["variable"] == "DB_POOL_MIN"


def test_equal_pool_bounds_are_accepted() -> None:
    settings = Settings(db_pool_min=4, db_pool_max=4)
    assert (settings.db_pool_min, settings.db_pool_max) == (4, 4)


def test_settings_built_in_code_need_a_secret_beside_parameters() -> None:
    with pytest.raises(ValidationError, match=r"is required when a PARAM_\* variable") as caught:
        Settings(param_db_name_path="/schoolapp/db")
    assert caught.value.errors()[0]["ctx"]["variable"] == "DB_SECRET_ARN"


@pytest.mark.parametrize("variable", ["CORS_ORIGINS", "STAFF_CORS_ORIGINS"])
@pytest.mark.parametrize("value", ["example.com", "https://a.example,b.example", "ftp://a.example"])
def test_an_origin_without_its_scheme_is_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    # It would match no browser's Origin header: every cross-origin call would fail.
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match="is not an origin: write scheme://host") as caught:
        load_settings()
    assert caught.value.variable == variable


def test_staff_routes_never_take_any_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAFF_CORS_ORIGINS", "https://tool.example,*")
    with pytest.raises(ConfigError, match="exact origins") as caught:
        load_settings()
    assert caught.value.variable == "STAFF_CORS_ORIGINS"
    monkeypatch.setenv("STAFF_CORS_ORIGINS", "https://tool.example")
    monkeypatch.setenv("CORS_ORIGINS", "*")
    assert load_settings().cors_origins == ("*",)


def test_a_dot_env_file_is_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("PORT=3999\nDB_NAME=from_dot_env\nNOT_OURS=1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.setenv("DB_NAME", "from_environment")
    settings = load_settings()
    assert (settings.port, settings.db_name) == (3999, "from_environment")
