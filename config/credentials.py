"""Where the database credentials come from: the DB_* variables, or AWS.

In AWS mode the host, database name and user come from Parameter Store and the
password from a Secrets Manager secret, read with boto3. The secret is read again
when the database refuses the password, so a rotation needs no restart.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from config.errors import ConfigError
from config.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ssm import SSMClient

logger = logging.getLogger("schoolapp.config")

DEFAULT_MYSQL_PORT = 3306


@dataclass(frozen=True, slots=True)
class Credentials:
    """Everything needed to open a connection; the password never shows in a repr."""

    host: str
    port: int
    user: str
    database: str
    password: str = field(repr=False)


class CredentialsSource(Protocol):
    """Gives the current credentials; `refresh` re-reads them after a rejection."""

    def current(self) -> Credentials:
        """The credentials last read (read them first if never read)."""
        ...

    def refresh(self) -> Credentials:
        """Read the credentials again from their source."""
        ...


class DirectCredentials:
    """Credentials from the DB_* variables, for local runs and tests."""

    def __init__(self, settings: Settings) -> None:
        self._credentials = Credentials(
            host=settings.db_host,
            port=settings.db_port,
            user=settings.db_user,
            database=settings.db_name,
            password=settings.db_password.get_secret_value(),
        )

    def current(self) -> Credentials:
        """The DB_* credentials."""
        return self._credentials

    def refresh(self) -> Credentials:
        """The DB_* variables cannot change while the process runs."""
        return self._credentials


class AwsCredentials:
    """Credentials from Parameter Store (host, database, user) and Secrets Manager."""

    def __init__(self, settings: Settings) -> None:
        # boto3 takes a noticeable time to import; local mode never pays it.
        import boto3  # noqa: PLC0415

        self._settings = settings
        session = boto3.session.Session(region_name=settings.aws_region)
        # AWS_ENDPOINT_URL (an emulator in tests) is honoured by boto3 itself.
        self._ssm: SSMClient = session.client("ssm")
        self._secrets: SecretsManagerClient = session.client("secretsmanager")
        self._lock = threading.Lock()
        self._credentials: Credentials | None = None

    def current(self) -> Credentials:
        """The credentials last read, reading them on first use."""
        with self._lock:
            if self._credentials is None:
                self._credentials = self._read()
            return self._credentials

    def refresh(self) -> Credentials:
        """Read the parameters and the secret again (after a password rotation)."""
        with self._lock:
            self._credentials = self._read()
            logger.info("database credentials re-read from AWS")
            return self._credentials

    def _read(self) -> Credentials:
        settings = self._settings
        secret = self._secret()
        host = self._parameter("PARAM_HOST_PATH", settings.param_host_path) or _text(secret, "host")
        database = self._parameter("PARAM_DB_NAME_PATH", settings.param_db_name_path) or _text(
            secret, "dbname"
        )
        user = self._parameter("PARAM_USER_PATH", settings.param_user_path) or _text(
            secret, "username"
        )
        password = _text(secret, "password")
        if not host:
            raise ConfigError("PARAM_HOST_PATH", "is not set and the secret holds no host")
        if not database:
            raise ConfigError("PARAM_DB_NAME_PATH", "is not set and the secret holds no dbname")
        if not user:
            raise ConfigError("PARAM_USER_PATH", "is empty and the secret holds no username")
        if not password:
            raise ConfigError("DB_SECRET_ARN", "the secret holds no password")
        return Credentials(
            host=host,
            port=_port(secret),
            user=user,
            database=database,
            password=password,
        )

    def _parameter(self, variable: str, name: str | None) -> str:
        if not name:
            return ""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            answer = self._ssm.get_parameter(Name=name, WithDecryption=True)
        except ClientError as exc:
            raise ConfigError(variable, _client_problem(exc, f"parameter {name}")) from None
        except BotoCoreError as exc:
            raise ConfigError(variable, f"Parameter Store could not be read: {exc}") from None
        return answer["Parameter"].get("Value", "").strip()

    def _secret(self) -> dict[str, object]:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        arn = self._settings.db_secret_arn
        if arn is None:
            raise ConfigError("DB_SECRET_ARN", "is not set")
        try:
            answer = self._secrets.get_secret_value(SecretId=arn)
        except ClientError as exc:
            raise ConfigError("DB_SECRET_ARN", _client_problem(exc, f"secret {arn}")) from None
        except BotoCoreError as exc:
            raise ConfigError(
                "DB_SECRET_ARN", f"Secrets Manager could not be read: {exc}"
            ) from None
        try:
            secret = json.loads(answer.get("SecretString") or "")
        except json.JSONDecodeError:
            # Never quote the secret's text: it holds the password.
            raise ConfigError("DB_SECRET_ARN", "the secret is not a JSON object") from None
        if not isinstance(secret, dict):
            raise ConfigError("DB_SECRET_ARN", "the secret is not a JSON object")
        return secret


def _text(secret: dict[str, object], key: str) -> str:
    value = secret.get(key)
    return str(value).strip() if value is not None else ""


def _port(secret: dict[str, object]) -> int:
    value = secret.get("port")
    if value is None or value == "":
        return DEFAULT_MYSQL_PORT
    try:
        return int(str(value))
    except ValueError:
        raise ConfigError("DB_SECRET_ARN", "the secret's port is not a number") from None


def _client_problem(exc: Exception, what: str) -> str:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "Error")
    if code in ("ParameterNotFound", "ResourceNotFoundException"):
        return f"{what} does not exist"
    if "AccessDenied" in code:
        return f"access denied to {what}"
    return f"{what} could not be read ({code})"


def credentials_source(settings: Settings) -> CredentialsSource:
    """The credentials source the settings call for: AWS when any AWS variable is set."""
    if settings.aws_mode:
        return AwsCredentials(settings)
    return DirectCredentials(settings)
