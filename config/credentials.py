"""Where the database credentials come from: the DB_* variables, or AWS.

In AWS mode the host, database name and user come from Parameter Store and the
password from a Secrets Manager secret, read with boto3. The secret is read again
when the database refuses the password, so a rotation needs no restart.
The migrations may log in as a user of their own (DB_MIGRATION_SECRET_ARN: its
username and password, on the service's host and database), and `index.py
db-users` as the master user (DB_ADMIN_SECRET_ARN).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from config.errors import ConfigError
from config.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ssm import SSMClient

logger = logging.getLogger("schoolapp.config")

DEFAULT_MYSQL_PORT = 3306
# The users `index.py db-users` creates are named in SQL: a plain name only.
_USERNAME = re.compile(r"[A-Za-z0-9_]{1,32}")


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
        self._secrets = secrets_client(settings)
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
        arn = self._settings.db_secret_arn
        if arn is None:
            raise ConfigError("DB_SECRET_ARN", "is not set")
        return read_secret(self._secrets, "DB_SECRET_ARN", arn)


def read_secret(client: SecretsManagerClient, variable: str, arn: str) -> dict[str, object]:
    """The JSON object in the secret `arn`; ConfigError naming `variable` if it cannot be had."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        answer = client.get_secret_value(SecretId=arn)
    except ClientError as exc:
        raise ConfigError(variable, _client_problem(exc, f"secret {arn}")) from None
    except BotoCoreError as exc:
        raise ConfigError(variable, f"Secrets Manager could not be read: {exc}") from None
    try:
        secret = json.loads(answer.get("SecretString") or "")
    except json.JSONDecodeError:
        # Never quote the secret's text: it holds the password.
        raise ConfigError(variable, "the secret is not a JSON object") from None
    if not isinstance(secret, dict):
        raise ConfigError(variable, "the secret is not a JSON object")
    return secret


def secrets_client(settings: Settings) -> SecretsManagerClient:
    """A Secrets Manager client of AWS_REGION (AWS_ENDPOINT_URL honoured by boto3)."""
    import boto3  # noqa: PLC0415

    client: SecretsManagerClient = boto3.session.Session(region_name=settings.aws_region).client(
        "secretsmanager"
    )
    return client


def secret_login(settings: Settings, variable: str, arn: str, service: Credentials) -> Credentials:
    """The service's server and database, as the user whose `username` and `password`
    the secret `arn` holds (the migration user's, the master's)."""
    secret = read_secret(secrets_client(settings), variable, arn)
    user, password = _text(secret, "username"), _text(secret, "password")
    if not _USERNAME.fullmatch(user):
        raise ConfigError(variable, "the secret's username must be 1 to 32 letters, digits or _")
    if not password:
        raise ConfigError(variable, "the secret holds no password")
    return replace(service, user=user, password=password)


class MigrationCredentials:
    """The migration user's login (DB_MIGRATION_SECRET_ARN) on the service's database.

    Read again on every use: migrations run rarely, and a new password (set by
    `index.py db-users`) is then never missed.
    """

    def __init__(self, settings: Settings, service: CredentialsSource) -> None:
        assert settings.db_migration_secret_arn is not None
        self._settings = settings
        self._arn = settings.db_migration_secret_arn
        self._service = service

    def current(self) -> Credentials:
        """The service's host, port and database, as the migration user."""
        service = self._service.current()
        return secret_login(self._settings, "DB_MIGRATION_SECRET_ARN", self._arn, service)

    def refresh(self) -> Credentials:
        """The same as `current`: nothing is cached."""
        return self.current()


def migration_credentials(settings: Settings, service: CredentialsSource) -> CredentialsSource:
    """Whom migrations log in as: the migration user when DB_MIGRATION_SECRET_ARN is set,
    else the service's own user (local mode)."""
    if settings.db_migration_secret_arn:
        return MigrationCredentials(settings, service)
    return service


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
