"""Errors the models raise about stored data."""


class DuplicateEmail(Exception):
    """An applicant with this email (compared case-insensitively) is already stored."""
