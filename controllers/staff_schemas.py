"""Shapes of the staff routes' answers, for the OpenAPI document."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field


class StoredRegistration(BaseModel):
    """A registration as stored, in full (rows of the old service may lack phone or program)."""

    id: str
    name: str
    email: str
    phone: str | None
    program: str | None
    created_at: datetime


class RegistrationPage(BaseModel):
    """One page, newest first; `next` fetches the following page, null on the last."""

    registrations: list[StoredRegistration]
    next: str | None = Field(description="Pass as `cursor` for the next page.")


class ProgramCount(BaseModel):
    """Registrations of one program (null: rows stored without one)."""

    program: str | None
    count: int


class DayCount(BaseModel):
    """Registrations of one UTC day (days without any are left out)."""

    day: date
    count: int


class EmailCounts(BaseModel):
    """Confirmation emails by outcome, all time; `pending` includes those being sent."""

    pending: int
    sent: int
    failed: int


class RegistrationStats(BaseModel):
    """Totals over [since, before), and the confirmation emails' outcomes."""

    since: datetime
    before: datetime
    total: int
    by_program: list[ProgramCount]
    by_day: list[DayCount]
    emails: EmailCounts


class AuditRecord(BaseModel):
    """One staff action: which key, what, with which filters (`q` as its length), how many rows."""

    id: int
    at: datetime
    key_name: str
    action: str
    detail: dict[str, Any]
    row_count: int | None
    request_id: str | None


class AuditPage(BaseModel):
    """The audit trail, newest first; `next` fetches older entries, null on the last page."""

    entries: list[AuditRecord]
    next: str | None
