"""Errors the models raise about stored data."""

from __future__ import annotations

from typing import ClassVar

from config.errors import SchoolappError


class DuplicateEmail(SchoolappError):
    """An applicant with this email (compared case-insensitively) is already stored."""

    status_code: ClassVar[int] = 409
