"""The service's own exceptions: one tree, rooted here, each raised where it happens.

Those that become an HTTP answer carry its status; `controllers/error_responses.py`
alone turns them into answers, with the contract's wording. Every layer raises
them from here (config is the bottom of the import graph):

    SchoolappError
    ├── ConfigError                  a setting that cannot work: one line, exit 2
    ├── DatabaseUnavailable     503  unreachable, or no answer in time
    │   ├── CredentialsRejected      MySQL 1045, e.g. after a password rotation
    │   ├── UnknownDatabase          MySQL 1049 (local mode then creates it)
    │   ├── ConnectionLost           broke mid-statement: it may or may not have run
    │   └── MigrationFailed          the schema could not be brought up to date
    ├── StatementRejected            the server refused a statement (no answer: a 500)
    │   └── DuplicateKey             MySQL 1062
    ├── DuplicateEmail          409
    ├── IdempotencyKeyReused    422
    ├── TooManyRequests         429  over a rate limit (client address, or an email's mismatches)
    ├── DuplicateKeyName             staff key names are never reused (CLI)
    ├── ParameterNotWritten          a staff key could not be put into Parameter Store (CLI)
    ├── Unauthorized            401  no valid staff key (missing, unknown, revoked, expired)
    ├── Forbidden               403  a valid staff key whose role may not do that
    ├── NotFound                404
    ├── MailFailed                   a confirmation email not sent (recorded, never an answer)
    │   ├── MailRejected             permanently: retrying cannot help
    │   ├── MailTemporarilyFailed    for now: retried with backoff
    │   └── MailEventUnreadable      a queued SES event that cannot be read (left to the DLQ)
    └── RequestRejected         400
        ├── ValidationFailed    400
        ├── InvalidBody         400
        ├── InvalidIdempotencyKey 400
        ├── InvalidParameter    400  a query parameter or path value
        ├── BodyTooLarge        413
        ├── BodyTimeout         408  the body did not arrive within BODY_TIMEOUT_SECONDS
        └── UnsupportedMediaType 415
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


class SchoolappError(Exception):
    """The root of the service's own exceptions."""


class ConfigError(SchoolappError):
    """A configuration that cannot work; the message names the variable at fault."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class DatabaseUnavailable(SchoolappError):
    """The database could not be reached or did not answer in time."""

    status_code: ClassVar[int] = 503


class CredentialsRejected(DatabaseUnavailable):
    """The database refused the credentials (MySQL error 1045), e.g. after a rotation."""


class UnknownDatabase(DatabaseUnavailable):
    """The server has no database of that name (MySQL error 1049)."""


class ConnectionLost(DatabaseUnavailable):
    """The connection failed during a statement: it may or may not have run."""


class StatementRejected(SchoolappError):
    """The server refused a statement; the connection stays usable.

    `code` is the server's error number. The driver's error is the cause, so the
    log shows it; the client sees a 500 without it.
    """

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(message)
        self.code = code


class DuplicateKey(StatementRejected):
    """A row with the same unique key exists already (MySQL error 1062)."""


# Stored data and the schema (raised by models/).


class DuplicateEmail(SchoolappError):
    """An applicant with this email (compared case-insensitively) is already stored."""

    status_code: ClassVar[int] = 409


class MigrationFailed(DatabaseUnavailable):
    """The schema could not be brought up to date; the service answers 503 meanwhile."""


class IdempotencyKeyReused(SchoolappError):
    """An Idempotency-Key came back with a different submission than it was first sent with."""

    status_code: ClassVar[int] = 422


class TooManyRequests(SchoolappError):
    """Over a rate limit; `retry_after` is whole seconds until the window frees."""

    status_code: ClassVar[int] = 429

    def __init__(self, limit: str, retry_after: int) -> None:
        super().__init__(f"over the {limit} rate limit")
        self.limit = limit
        self.retry_after = retry_after


class DuplicateKeyName(SchoolappError):
    """A staff key (revoked or not) already has this name; names are never reused."""


class ParameterNotWritten(SchoolappError):
    """Parameter Store refused or could not be reached; `code` is AWS's (the value is never
    in the message)."""

    def __init__(self, name: str, code: str) -> None:
        super().__init__(f"parameter {name}: {code}")
        self.name = name
        self.code = code


# The request itself (raised by controllers/ and routes/).


@dataclass(frozen=True, slots=True)
class FieldError:
    """One failing field of a registration and why it failed."""

    field: str
    message: str


class RequestRejected(SchoolappError):
    """The request breaks a rule of the contract; the message is the client's to read."""

    status_code: ClassVar[int] = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(RequestRejected):
    """The registration's fields fail the contract's checks."""

    def __init__(self, message: str, details: list[FieldError]) -> None:
        super().__init__(message)
        self.details = details


class InvalidBody(RequestRejected):
    """The body is not JSON, or is JSON but not an object."""

    def __init__(self) -> None:
        super().__init__("Request body must be a JSON object")


class UnsupportedMediaType(RequestRejected):
    """The Content-Type is not application/json."""

    status_code = 415

    def __init__(self) -> None:
        super().__init__("Content-Type must be application/json")


class BodyTooLarge(RequestRejected):
    """The body is larger than the service accepts."""

    status_code = 413

    def __init__(self) -> None:
        super().__init__("Request body too large")


class BodyTimeout(RequestRejected):
    """The body did not arrive within BODY_TIMEOUT_SECONDS; the connection is closed."""

    status_code = 408

    def __init__(self) -> None:
        super().__init__("Request body not received in time")


class InvalidIdempotencyKey(RequestRejected):
    """The Idempotency-Key header is malformed or too long."""


class InvalidParameter(RequestRejected):
    """A query parameter or path value cannot be read (a date, a cursor, a limit)."""


class Unauthorized(SchoolappError):
    """No staff key, or one that is unknown or revoked; the message never quotes the key."""

    status_code: ClassVar[int] = 401

    def __init__(self, message: str, *, invalid_token: bool) -> None:
        super().__init__(message)
        self.message = message
        self.invalid_token = invalid_token


class Forbidden(SchoolappError):
    """A valid staff key whose role does not allow the action (a viewer erasing, say)."""

    status_code: ClassVar[int] = 403

    def __init__(self, action: str) -> None:
        super().__init__(f"the key's role may not {action}")
        self.action = action


class NotFound(SchoolappError):
    """The resource named in the path does not exist."""

    status_code: ClassVar[int] = 404

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Mail: raised by the transports (mail/), recorded in the outbox, never an HTTP answer.


class MailFailed(SchoolappError):
    """An email was not sent."""


class MailRejected(MailFailed):
    """Refused for good (a rejected message, an invalid address): retrying cannot help."""


class MailTemporarilyFailed(MailFailed):
    """Not sent this time (throttled, an outage, no network): the same email may go later."""


class MailEventUnreadable(MailFailed):
    """A message of the bounce and complaint queue that is not an SES event we can read."""
