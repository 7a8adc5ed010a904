"""Settings read from the environment (see the contract's configuration table)."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from config.errors import ConfigError

SECRET_ARN_PREFIX = "arn:aws:secretsmanager:"  # noqa: S105 (a prefix, not a secret)

MailBackend = Literal["ses", "files", "off"]


@dataclass(frozen=True, slots=True)
class Program:
    """One program an applicant can choose: the stored value and the label a form shows."""

    value: str
    label: str


DEFAULT_PROGRAMS = (
    Program("computer-science", "Computer Science"),
    Program("engineering", "Engineering"),
    Program("business", "Business"),
    Program("arts", "Arts"),
    Program("medicine", "Medicine"),
)


def parse_programs(text: str) -> tuple[Program, ...]:
    """Parse `PROGRAMS`: comma-separated `value` or `value:Label` entries."""
    programs = []
    for entry in text.split(","):
        value, _, label = entry.strip().partition(":")
        value, label = value.strip(), label.strip()
        if not value:
            continue
        programs.append(Program(value, label or value.replace("-", " ").title()))
    if not programs:
        raise ValueError("lists no program")
    if len({p.value for p in programs}) != len(programs):
        raise ValueError("lists a program twice")
    return tuple(programs)


class Settings(BaseSettings):
    """Every setting of the service; unset variables take the documented defaults."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_ignore_empty=True)

    port: int = Field(3000, ge=1, le=65535)
    aws_region: str = "us-east-1"
    param_host_path: str | None = None
    param_db_name_path: str | None = None
    param_user_path: str | None = None
    db_secret_arn: str | None = None

    db_host: str = "127.0.0.1"
    db_port: int = Field(3306, ge=1, le=65535)
    db_name: str = Field("schoolapp", pattern=r"^[A-Za-z0-9_$]{1,64}$")
    db_user: str = "root"
    db_password: SecretStr = SecretStr("")

    db_pool_min: int = Field(1, ge=0, le=100)
    db_pool_max: int = Field(10, ge=1, le=100)
    db_connect_timeout: float = Field(3.0, gt=0, le=60)
    db_query_timeout: float = Field(5.0, gt=0, le=60)
    db_pool_recycle: int = Field(300, ge=-1)

    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    programs: Annotated[tuple[Program, ...], NoDecode] = DEFAULT_PROGRAMS
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"

    # Unset: `files` in local mode, `off` in AWS mode (see `mail_mode`).
    mail_backend: MailBackend | None = None
    mail_from: str | None = None
    mail_configuration_set: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    mail_dir: Path = Path("outbox-mail")
    # Unset: the templates shipped in controllers/templates/mail.
    mail_template_dir: Path | None = None
    # Emails a second this task sends at most: SES's starting production quota.
    mail_rate: float = Field(14.0, gt=0, le=1000)
    mail_concurrency: int = Field(4, ge=1, le=32)
    school_name: str = Field("Our School", min_length=1, max_length=200)

    @field_validator("db_secret_arn")
    @classmethod
    def _secret_arn_shape(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(SECRET_ARN_PREFIX):
            raise ValueError(f"must start with {SECRET_ARN_PREFIX}")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())
        return value

    @field_validator("programs", mode="before")
    @classmethod
    def _parse_programs(cls, value: Any) -> Any:
        return parse_programs(value) if isinstance(value, str) else value

    @field_validator("log_level", "log_format", "mail_backend", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("mail_from")
    @classmethod
    def _sender_shape(cls, value: str | None) -> str | None:
        if value is None:
            return value
        # "Admissions <admissions@example.edu>" or a bare address; never a second header.
        _, address = parseaddr(value)
        if any(c in value for c in "\r\n") or "@" not in address:
            raise ValueError("must be an address, or a name and an address in <>")
        return value

    @field_validator("school_name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(c in value for c in "\r\n"):
            raise ValueError("must be one line")
        return value.strip()

    @property
    def mail_mode(self) -> MailBackend:
        """MAIL_BACKEND, or its default: `files` locally; `off` in AWS, where files reach nobody."""
        if self.mail_backend is not None:
            return self.mail_backend
        return "off" if self.aws_mode else "files"

    @property
    def aws_mode(self) -> bool:
        """True when any Parameter Store / Secrets Manager variable is set."""
        return any(
            (
                self.param_host_path,
                self.param_db_name_path,
                self.param_user_path,
                self.db_secret_arn,
            )
        )


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment, turning a bad value into a ConfigError."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        variable = str(error["loc"][0]).upper() if error["loc"] else "settings"
        raise ConfigError(variable, error["msg"].removeprefix("Value error, ")) from None
    if settings.db_pool_min > settings.db_pool_max:
        raise ConfigError("DB_POOL_MIN", "must not exceed DB_POOL_MAX")
    if settings.aws_mode and not settings.db_secret_arn:
        raise ConfigError("DB_SECRET_ARN", "is required when a PARAM_* variable is set")
    if settings.mail_mode == "ses" and not settings.mail_from:
        raise ConfigError("MAIL_FROM", "is required when MAIL_BACKEND is ses")
    return settings
