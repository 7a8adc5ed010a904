"""Errors the models raise about stored data and the schema."""

from config.errors import DatabaseUnavailable


class DuplicateEmail(Exception):
    """An applicant with this email (compared case-insensitively) is already stored."""


class MigrationFailed(DatabaseUnavailable):
    """The schema could not be brought up to date; the service answers 503 meanwhile."""


class DuplicateKeyName(Exception):
    """A staff key (revoked or not) already has this name; names are never reused."""
