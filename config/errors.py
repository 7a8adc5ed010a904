"""The service's own exceptions: one tree, rooted here, each raised where it happens.

Those that become an HTTP answer carry its status; `controllers/error_responses.py`
alone turns them into answers, with the contract's wording. The leaves live in the
layer that raises them (nothing reaches upward):

    SchoolappError
    ├── ConfigError                  a setting that cannot work: one line, exit 2
    ├── DatabaseUnavailable     503  unreachable, or no answer in time
    │   ├── CredentialsRejected      MySQL 1045, e.g. after a password rotation
    │   ├── UnknownDatabase          MySQL 1049 (local mode then creates it)
    │   ├── ConnectionLost           broke mid-statement: it may or may not have run
    │   └── MigrationFailed          models.errors: the schema could not be brought up to date
    ├── StatementRejected            the server refused a statement (no answer: a 500)
    │   └── DuplicateKey             MySQL 1062
    ├── DuplicateEmail          409  models.errors
    ├── IdempotencyKeyReused    422  models.errors
    ├── DuplicateKeyName             models.errors: staff key names are never reused (CLI)
    ├── Unauthorized            401  controllers.errors: no valid staff key
    ├── NotFound                404  controllers.errors
    └── RequestRejected         400  controllers.errors
        ├── ValidationFailed    400
        ├── InvalidBody         400
        ├── InvalidIdempotencyKey 400
        ├── InvalidParameter    400  a query parameter or path value
        ├── BodyTooLarge        413
        └── UnsupportedMediaType 415
"""

from __future__ import annotations

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


# Mail: raised by the transports (mail/), recorded in the outbox, never an HTTP answer.


class MailFailed(SchoolappError):
    """An email was not sent."""


class MailRejected(MailFailed):
    """Refused for good (a rejected message, an invalid address): retrying cannot help."""


class MailTemporarilyFailed(MailFailed):
    """Not sent this time (throttled, an outage, no network): the same email may go later."""
