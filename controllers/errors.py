"""Ways a request itself can be wrong; turned into answers by controllers.error_responses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from config.errors import SchoolappError


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


class NotFound(SchoolappError):
    """The resource named in the path does not exist."""

    status_code: ClassVar[int] = 404

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
