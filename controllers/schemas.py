"""Shapes of the answers, for the OpenAPI document (the request's is RegistrationForm)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field


class RegisteredApplicant(BaseModel):
    """201: the applicant as stored."""

    id: UUID
    name: str
    email: str
    phone: str = Field(pattern=r"^[0-9]{10}$")
    program: str
    created_at: datetime


class FieldFailure(BaseModel):
    """One failing field of a registration."""

    field: str
    message: str


class ErrorBody(BaseModel):
    """Every error: a message for people, and for a 400 the failing fields."""

    error: str
    details: list[FieldFailure] | None = None
    request_id: str | None = Field(None, description="Only on a 500: quote it to support.")


class ProgramChoice(BaseModel):
    """One program a form can offer."""

    value: str
    label: str


class ProgramList(BaseModel):
    """The configured programs, in order."""

    programs: list[ProgramChoice]


class Health(BaseModel):
    """The shallow liveness answer."""

    status: Literal["OK"]


class Readiness(BaseModel):
    """Whether the database answers a ping within a second."""

    status: Literal["OK", "UNAVAILABLE"]
    database: Literal["up", "down"]
