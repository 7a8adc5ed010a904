"""The staff routes' part of the OpenAPI document, with the bearer scheme /docs authorises."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from controllers.staff_params import DEFAULT_LIMIT, MAX_LIMIT, MAX_PREFIX, MAX_PROGRAM
from controllers.staff_schemas import AuditPage, RegistrationPage, RegistrationStats

STAFF_MODELS: list[type[BaseModel]] = [RegistrationPage, RegistrationStats, AuditPage]
SECURITY_SCHEMES = {
    "staffKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A staff key from `python index.py keys create --name NAME`.",
    }
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}  # fmt: skip


_TIME = "ISO 8601 date or date-time, UTC unless an offset is given"
_FILTERS = [
    _query("program", "Only this program.", {"type": "string", "maxLength": MAX_PROGRAM}),
    _query("since", f"Created at or after ({_TIME}; a date: from its start).", {"type": "string"}),
    _query("until", f"Created at or before ({_TIME}; a date: its whole day).", {"type": "string"}),
    _query("q", "Prefix of the name or email, any case.", {"type": "string",
           "maxLength": MAX_PREFIX}),
]  # fmt: skip
_PAGE = [
    _query("limit", "Rows a page.", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
           "default": DEFAULT_LIMIT}),
    _query("cursor", "The `next` value of the page before.", {"type": "string"}),
]  # fmt: skip

_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}


def _staff(summary: str, operation_id: str, ok: dict[str, dict[str, Any]], **extra: Any) -> Any:
    responses = {
        **ok,
        "401": {
            **_json("ErrorBody", "No staff key, or an unknown or revoked one."),
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
        },
        "503": _json("ErrorBody", "Database unavailable; see Retry-After."),
    }
    return {"summary": summary, "operationId": operation_id, "tags": ["staff"],
            "security": [{"staffKey": []}], "responses": responses, **extra}  # fmt: skip


def staff_paths() -> dict[str, Any]:
    """The path items of the staff routes."""
    bad_input = {"400": _json("ErrorBody", "A parameter cannot be read (the message says which).")}
    return {
        "/api/registrations": {
            "get": _staff(
                "Registrations, newest first, a page at a time",
                "listRegistrations",
                {"200": _json("RegistrationPage", "One page."), **bad_input},
                parameters=_FILTERS + _PAGE,
            )
        },
        "/api/registrations.csv": {
            "get": _staff(
                "Every matching registration as CSV (UTF-8 with BOM, in id order), streamed",
                "exportRegistrations",
                {
                    "200": {
                        "description": "CSV with a header row; formula-like cells prefixed with '.",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    **bad_input,
                },
                parameters=_FILTERS,
            )
        },
        "/api/registrations/stats": {
            "get": _staff(
                "Totals per program and per UTC day (the last 30 days by default)",
                "registrationStats",
                {"200": _json("RegistrationStats", "The totals."), **bad_input},
                parameters=_FILTERS,
            )
        },
        "/api/registrations/{id}": {
            "delete": _staff(
                "Erase a registration (an applicant's request)",
                "deleteRegistration",
                {
                    "204": {"description": "Erased."},
                    "404": _json("ErrorBody", "No registration has this id."),
                },
                parameters=[_ID],
            )
        },
        "/api/audit": {
            "get": _staff(
                "The audit trail of staff actions, newest first",
                "auditTrail",
                {"200": _json("AuditPage", "One page."), **bad_input},
                parameters=_PAGE,
            )
        },
    }
