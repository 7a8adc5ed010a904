"""Settings read from the environment (see the contract's configuration table)."""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from config.errors import ConfigError


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


SECRET_ARN_PREFIX = "arn:aws:secretsmanager:"  # noqa: S105 (a prefix, not a secret)
LogFormat = Literal["json", "text"]
# Unset: `auto`, text when stdout is a terminal, JSON otherwise (config/log.py line_format).
LogFormatSetting = Literal["json", "text", "auto"]
# An origin as browsers send it: scheme, host, optional port; nothing after.
_ORIGIN = re.compile(r"https?://[^/\s?#@]+")

MailBackend = Literal["ses", "files", "off"]
SslMode = Literal["disabled", "required", "verify-ca", "verify-identity"]
VERIFYING_MODES: tuple[SslMode, ...] = ("verify-ca", "verify-identity")
# Where the image puts Amazon's bundle of every RDS region's CAs (see the Dockerfile).
RDS_CA_BUNDLE = Path("/etc/ssl/rds/global-bundle.pem")


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# RATE_LIMIT_*: "N/second", "N/minute" or "N/hour" (N at least 1), or "off".
_RATE_LIMIT = re.compile(r"([1-9][0-9]{0,8})\s*/\s*(second|minute|hour)")
RATE_LIMIT_OFF = "off"


def parse_rate_limit(text: str) -> str:
    """`text` as a canonical `N/unit` (or `off`); ValueError if it is neither."""
    value = text.strip().lower()
    if value == RATE_LIMIT_OFF:
        return value
    match = _RATE_LIMIT.fullmatch(value)
    if match is None:
        raise ValueError("must be N/second, N/minute, N/hour or off")
    return f"{match[1]}/{match[2]}"


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """TRUSTED_PROXIES: comma-separated CIDRs (a bare address is its own /32 or /128)."""
    networks = []
    for entry in text.split(","):
        if entry.strip():
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
    return tuple(networks)


AWS_FIELDS = ("param_host_path", "param_db_name_path", "param_user_path", "db_secret_arn")


def _aws_mode(values: Mapping[str, Any]) -> bool:
    return any(values.get(name) for name in AWS_FIELDS)


def _default_ssl_mode(values: dict[str, Any]) -> SslMode:
    # Production (AWS mode) encrypts and verifies; a local run keeps the plain default.
    return "verify-identity" if _aws_mode(values) else "disabled"


def _default_ssl_ca(values: dict[str, Any]) -> Path | None:
    if _aws_mode(values) and values.get("db_ssl_mode") in VERIFYING_MODES:
        return RDS_CA_BUNDLE
    return None


class Settings(BaseSettings):
    """Every setting of the service; unset variables take the documented defaults."""

    # A `.env` in the working directory is read too; the environment wins over it.
    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", env_ignore_empty=True, env_file=".env"
    )

    port: int = Field(3000, ge=1, le=65535)
    # A request body not received within this is answered 408 and its connection closed.
    body_timeout_seconds: float = Field(15.0, gt=0, le=300)
    # Connections and requests at once; beyond, uvicorn answers 503 before the app runs.
    max_concurrency: int = Field(1000, ge=1, le=100_000)
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
    # How long a repeated identical registration is a retry answered with the stored
    # row (the time a retry after a timeout takes); 0 turns it off. Idempotency keys
    # have their own 24 hours (models/idempotency.py).
    replay_window_seconds: int = Field(600, ge=0, le=86_400)
    # Defaults depend on the mode (declared above): verify-identity with the RDS
    # bundle in AWS mode, disabled locally.
    db_ssl_mode: SslMode = Field(default_factory=_default_ssl_mode)
    db_ssl_ca: Path | None = Field(default_factory=_default_ssl_ca)

    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # Origins of staff tools allowed to call the staff routes; CORS_ORIGINS never applies there.
    staff_cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    programs: Annotated[tuple[Program, ...], NoDecode] = DEFAULT_PROGRAMS
    # Per client address on POST /api/register, and per email address on submissions
    # that do not match the stored one; "off" disables (benchmarks, load tests).
    rate_limit_register: str = "20/minute"
    rate_limit_mismatch: str = "5/hour"
    # Proxies whose X-Forwarded-For entry is believed (the stack: the VPC's CIDR).
    trusted_proxies: Annotated[tuple[IPNetwork, ...], NoDecode] = ()
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: LogFormatSetting = "auto"

    # Unset: `files` in local mode, `off` in AWS mode (see `mail_mode`).
    mail_backend: MailBackend | None = None
    mail_from: str | None = None
    mail_configuration_set: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # SQS queue of SNS envelopes of SES's bounce and complaint events; unset: none read.
    mail_events_queue_url: str | None = Field(None, pattern=r"^https?://\S+$")
    mail_dir: Path = Path("outbox-mail")
    # Unset: the templates shipped in mail/templates.
    mail_template_dir: Path | None = None
    # Emails a second this task sends at most: SES's starting production quota.
    mail_rate: float = Field(14.0, gt=0, le=1000)
    mail_concurrency: int = Field(4, ge=1, le=32)
    school_name: str = Field("Our School", min_length=1, max_length=200)
    # The school's IANA time zone: the spreadsheet's times are its wall-clock times.
    school_timezone: str = "UTC"

    # Seconds between two EMF metric lines on stdout; 0 (or `off`) writes none.
    metrics_interval_seconds: float = Field(60.0, ge=0, le=3600)
    # The metrics' one dimension, Service: the stack's name in AWS.
    metrics_service: str = Field("schoolapp", pattern=r"^[\x20-\x7e]{1,255}$")
    # The migration user's secret (JSON username, password); unset: migrations log in
    # as the service does. The master secret, read by `index.py db-users` only.
    db_migration_secret_arn: str | None = None
    db_admin_secret_arn: str | None = None

    @field_validator("db_secret_arn", "db_migration_secret_arn", "db_admin_secret_arn")
    @classmethod
    def _secret_arn_shape(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(SECRET_ARN_PREFIX):
            raise ValueError(f"must start with {SECRET_ARN_PREFIX}")
        return value

    @field_validator("metrics_interval_seconds", mode="before")
    @classmethod
    def _metrics_off(cls, value: Any) -> Any:
        return 0 if isinstance(value, str) and value.strip().lower() == "off" else value

    @field_validator("cors_origins", "staff_cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())
        return value

    @field_validator("cors_origins", "staff_cors_origins")
    @classmethod
    def _origins_shape(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for origin in value:
            if origin == "*":
                if info.field_name == "staff_cors_origins":
                    raise ValueError("must list exact origins: * would give staff data to any site")
                continue
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: write scheme://host[:port], "
                    "e.g. https://apply.example.edu"
                )
        return value

    @field_validator("programs", mode="before")
    @classmethod
    def _parse_programs(cls, value: Any) -> Any:
        return parse_programs(value) if isinstance(value, str) else value

    @field_validator("rate_limit_register", "rate_limit_mismatch")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        return parse_rate_limit(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_networks(cls, value: Any) -> Any:
        return parse_networks(value) if isinstance(value, str) else value

    @field_validator("log_level", "log_format", "mail_backend", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _fields_agree(self) -> Self:
        # In the model, not the loader, so a Settings(...) built in code is checked too.
        if self.db_pool_min > self.db_pool_max:
            raise _conflict("DB_POOL_MIN", "must not exceed DB_POOL_MAX")
        if self.aws_mode and not self.db_secret_arn:
            raise _conflict("DB_SECRET_ARN", "is required when a PARAM_* variable is set")
        if self.mail_mode == "ses" and not self.mail_from:
            raise _conflict("MAIL_FROM", "is required when MAIL_BACKEND is ses")
        return self

    @field_validator("db_ssl_mode", mode="before")
    @classmethod
    def _ssl_mode_spelling(cls, value: Any) -> Any:
        # Also the MySQL client's own spelling, VERIFY_IDENTITY.
        return value.lower().replace("_", "-") if isinstance(value, str) else value

    @model_validator(mode="after")
    def _ssl_ca_fits_the_mode(self) -> Self:
        """A verifying mode needs a CA bundle that loads; the others must not be given one."""
        mode, ca = self.db_ssl_mode, self.db_ssl_ca
        if mode in VERIFYING_MODES:
            if ca is None:
                raise _conflict("DB_SSL_CA", f"is required with DB_SSL_MODE={mode}")
            try:
                load_ca_bundle(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), ca)
            except ValueError as exc:
                raise _conflict("DB_SSL_CA", str(exc)) from None
        elif ca is not None:
            # Refused rather than ignored: whoever set it believes the server is verified.
            raise _conflict(
                "DB_SSL_CA",
                f"verifies nothing with DB_SSL_MODE={mode}; use verify-ca or verify-identity",
            )
        return self

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

    @field_validator("school_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone, e.g. America/New_York") from None
        return value

    @property
    def school_zone(self) -> ZoneInfo:
        """SCHOOL_TIMEZONE as a zone (checked when the settings were read)."""
        return ZoneInfo(self.school_timezone)

    @property
    def mail_mode(self) -> MailBackend:
        """MAIL_BACKEND, or its default: `files` locally; `off` in AWS, where files reach nobody."""
        if self.mail_backend is not None:
            return self.mail_backend
        return "off" if self.aws_mode else "files"

    @property
    def db_operation_timeout(self) -> float:
        """The longest one database operation may wait: a connection, then its statements."""
        return self.db_connect_timeout + self.db_query_timeout

    @property
    def aws_mode(self) -> bool:
        """True when any Parameter Store / Secrets Manager variable is set."""
        return _aws_mode(self.__dict__)


def _conflict(variable: str, problem: str) -> PydanticCustomError:
    """A check across fields has no field of its own: the error names the variable at fault."""
    return PydanticCustomError("settings_conflict", problem, {"variable": variable})


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment, turning a bad value into a ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["loc"]:
            variable = str(error["loc"][0]).upper()
        else:
            variable = str(error.get("ctx", {}).get("variable", "settings"))
        raise ConfigError(variable, error["msg"].removeprefix("Value error, ")) from None


def load_ca_bundle(context: ssl.SSLContext, path: Path) -> None:
    """Load `path` into `context`; ValueError, saying why, unless it is a PEM bundle with a CA."""
    try:
        context.load_verify_locations(cafile=path)
    except ssl.SSLError:  # before OSError, of which it is a subclass
        raise ValueError(f"{path} holds no PEM certificate") from None
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not context.cert_store_stats()["x509_ca"]:
        raise ValueError(f"{path} holds no CA certificate")
