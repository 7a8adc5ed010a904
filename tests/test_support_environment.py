"""tests/support/environment.py: the variable names come from Settings, aliases included."""

from __future__ import annotations

import pytest
from pydantic import AliasChoices, AliasPath, Field
from pydantic_settings import EnvSettingsSource

from config.settings import Settings
from tests.support.environment import (
    service_variables,
    settings_variables,
    without_service_variables,
)


class AliasedSettings(Settings):
    """Settings with one field of each alias kind pydantic-settings reads."""

    plain_alias: str = Field("a", alias="SCHOOLAPP_PLAIN")
    choices: str = Field("b", validation_alias=AliasChoices("SCHOOLAPP_ONE", "SCHOOLAPP_TWO"))
    path: str = Field("c", validation_alias=AliasPath("SCHOOLAPP_NESTED", "key"))


def fields_read(model: type[Settings], monkeypatch: pytest.MonkeyPatch) -> int:
    """How many fields pydantic-settings fills when each derived variable is set.

    Its environment source answers one key a field it found (the field's name or alias).
    """
    for name in settings_variables(model):
        monkeypatch.setenv(name, '{"key": "1"}' if name == "SCHOOLAPP_NESTED" else "1")
    return len(EnvSettingsSource(model)())


def test_every_setting_is_reached_through_the_derived_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert fields_read(Settings, monkeypatch) == len(Settings.model_fields)
    # Once missing from a hand-kept list.
    assert {"DB_QUERY_TIMEOUT", "DB_POOL_RECYCLE"} <= settings_variables()


def test_aliases_name_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    names = settings_variables(AliasedSettings)
    assert {"SCHOOLAPP_PLAIN", "SCHOOLAPP_ONE", "SCHOOLAPP_TWO", "SCHOOLAPP_NESTED"} <= names
    assert not {"PLAIN_ALIAS", "CHOICES", "PATH"} & names
    assert fields_read(AliasedSettings, monkeypatch) == len(AliasedSettings.model_fields)


def test_a_child_process_keeps_only_what_the_service_does_not_read() -> None:
    shell = {
        "PATH": "/usr/bin",
        "AWS_ACCESS_KEY_ID": "kept",
        "DB_QUERY_TIMEOUT": "9",
        "db_pool_recycle": "1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
    }
    assert without_service_variables(shell) == {"PATH": "/usr/bin", "AWS_ACCESS_KEY_ID": "kept"}
    assert "AWS_ENDPOINT_URL" in service_variables()
