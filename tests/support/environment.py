"""The environment variables the service reads, derived from its Settings model.

Derived rather than listed, so that a setting added to config/settings.py is
cleared from the tests' processes the day it is added.
"""

from __future__ import annotations

import os

from pydantic import AliasChoices, AliasPath
from pydantic_settings import BaseSettings

from config.settings import Settings

# Read by boto3 rather than by Settings: they send every AWS call, or every SES
# call, elsewhere.
OTHER_SERVICE_VARIABLES = frozenset({"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SESV2"})


def _first_name(alias: str | AliasPath | AliasChoices) -> list[str]:
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasPath):
        return [str(alias.path[0])]
    return [name for choice in alias.choices for name in _first_name(choice)]


def settings_variables(model: type[BaseSettings] = Settings) -> frozenset[str]:
    """Every environment variable `model` reads, upper case (pydantic-settings' rules).

    A field is read under its validation alias (or alias) when it has one, else
    under `env_prefix` + its name.
    """
    prefix = model.model_config.get("env_prefix", "")
    names: list[str] = []
    for name, info in model.model_fields.items():
        alias = info.validation_alias or info.alias
        names.extend(_first_name(alias) if alias is not None else [prefix + name])
    return frozenset(name.upper() for name in names)


def service_variables() -> frozenset[str]:
    """Variables that change how `python index.py` runs: its settings and boto3's endpoint."""
    return settings_variables() | OTHER_SERVICE_VARIABLES


def without_service_variables(environment: dict[str, str] | None = None) -> dict[str, str]:
    """`environment` (default: this process's) minus every variable the service reads.

    Names compare case-insensitively, as Settings reads them.
    """
    source = os.environ if environment is None else environment
    drop = service_variables()
    return {name: value for name, value in source.items() if name.upper() not in drop}
