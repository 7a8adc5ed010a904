"""Errors the models raise about stored data and the schema."""

from __future__ import annotations

from typing import ClassVar

from config.errors import DatabaseUnavailable, SchoolappError


class DuplicateEmail(SchoolappError):
    """An applicant with this email (compared case-insensitively) is already stored."""

    status_code: ClassVar[int] = 409


class MigrationFailed(DatabaseUnavailable):
    """The schema could not be brought up to date; the service answers 503 meanwhile."""


class IdempotencyKeyReused(SchoolappError):
    """An Idempotency-Key came back with a different submission than it was first sent with."""

    status_code: ClassVar[int] = 422


class DuplicateKeyName(SchoolappError):
    """A staff key (revoked or not) already has this name; names are never reused."""
