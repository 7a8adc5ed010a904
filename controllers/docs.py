"""GET /openapi.json and GET /docs: the OpenAPI 3 document of the app's routes, and Swagger UI.

The document's paths and methods are read from the routes of the app that serves it;
each route's operation is found here by the route's name, its operationId. The
answers' shapes are the pydantic models below (the request's is RegistrationForm).
Swagger UI is served from files vendored in controllers/swagger_ui (npm's swagger-ui-dist,
fetched and checked by deploy/vendor_swagger_ui.py), no CDN: only the files the page
loads, under a CSP that allows no inline script and no framing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import orjson
from pydantic import BaseModel, Field
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from config.errors import NotFound
from config.settings import Program
from controllers.registration import KEY_PATTERN
from controllers.registration_form import RegistrationForm
from controllers.staff_audit import AUDIT_CURSOR_PATTERN
from controllers.staff_params import (
    CURSOR_FORMAT,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_SEARCH,
    SEARCH_PATTERN,
    SINCE_AFTER_UNTIL,
)
from models.registrations import Registration

__all__ = ["ASSETS_PATH", "NOT_API", "DocsController", "openapi_document"]

ASSETS_PATH = "/docs/assets"
_ASSETS_DIR = Path(__file__).parent / "swagger_ui"
# The only files /docs/assets serves: what the page loads, nothing else of the bundle.
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-init.js": "text/javascript",
    "swagger-ui.css": "text/css",
}
# Swagger UI sets style attributes and inlines SVG icons as data: URLs; scripts only from here.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


class RegistrationCreated(BaseModel):
    """201: the registration as stored (staff list rows, legacy ones too, are `Registration`)."""

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


class RegistrationPage(BaseModel):
    """One page, newest first; `next` fetches the following page, null on the last."""

    registrations: list[Registration]
    next: str | None = Field(description="Pass as `cursor` for the next page.")
    total: int = Field(description="How many registrations match the filters, all pages.")


class ProgramCount(BaseModel):
    """Registrations of one program (null: rows stored without one)."""

    program: str | None
    count: int


class DayCount(BaseModel):
    """Registrations of one UTC day (days without any are left out)."""

    day: date
    count: int


class EmailCounts(BaseModel):
    """Confirmation emails of the range's registrations by outcome; `pending` includes
    those being sent; `bounced` and `complained`: sent, then reported by SES;
    `suppressed`: never sent, the address having bounced or complained before."""

    pending: int
    sent: int
    failed: int
    bounced: int
    complained: int
    suppressed: int


class StaffKeyInfo(BaseModel):
    """The caller's own staff key: its name, what it may do, when it expires (null: never)."""

    name: str
    role: Literal["viewer", "admin"]
    expires_at: datetime | None


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


_ANSWERS: list[type[BaseModel]] = [
    RegistrationCreated,
    ErrorBody,
    ProgramList,
    Health,
    Readiness,
    RegistrationPage,
    RegistrationStats,
    AuditPage,
    StaffKeyInfo,
]
_MODELS: list[tuple[type[BaseModel], JsonSchemaMode]] = [
    (RegistrationForm, "validation"),
    *((model, "serialization") for model in _ANSWERS),
]
_SECURITY_SCHEMES = {
    "staffKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A staff key from `python index.py keys create --name NAME --role ROLE`.",
    }
}


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref(model)}},
        **extra,
    }


def _error(description: str) -> dict[str, Any]:
    return _json(ErrorBody, description)


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}  # fmt: skip


_REQUEST_ID = {
    "X-Request-ID": {
        "description": "The request's id: the client's when sane, else generated.",
        "schema": {"type": "string"},
    }
}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a retry safe (draft-ietf-httpapi-idempotency-key-header): the same"
    " key with the same submission gets the first answer's row; with another, 422. Quoted"
    " (a Structured Field String) or bare; 1 to 255 characters.",
    "schema": {"type": "string", "pattern": KEY_PATTERN},
}
_TIME = "ISO 8601 date or date-time, UTC unless an offset is given"
# What staff_params reads: an ISO 8601 date, or a date-time (offset optional).
_MOMENT = {"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}]}
_ORDER = (
    f"`since` must be before `until` (given, or the default), else a 400 {SINCE_AFTER_UNTIL!r}."
)


# The program enum is the configured list, filled in by openapi_document.
_FILTERS = [
    _query("program", "Only this program (one of /api/programs); blank: no filter.",
           {"type": "string", "anyOf": [{"enum": []}, {"pattern": r"^\s*$"}]}),
    _query("since", f"Created at or after ({_TIME}; a date: from its start). {_ORDER}",
           _MOMENT),
    _query("until", f"Created at or before ({_TIME}; a date: its whole day). {_ORDER}",
           _MOMENT),
    _query("q", "Any part of the name, email or phone, ignoring case, accents and"
           " punctuation; at least one letter or digit.",
           {"type": "string", "maxLength": MAX_SEARCH, "pattern": SEARCH_PATTERN}),
]  # fmt: skip


_LIMIT = _query("limit", "Rows a page.", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                "default": DEFAULT_LIMIT})  # fmt: skip
_PAGE = [
    _LIMIT,
    _query("cursor", "The `next` value of the page before, as given: opaque (unpadded base64url"
           " of the last row's position); anything else is a 400.",
           {"type": "string", "format": CURSOR_FORMAT}),
]  # fmt: skip
_AUDIT_PAGE = [
    _LIMIT,
    _query("cursor", "The `next` value of the page before, as given.",
           {"type": "string", "pattern": AUDIT_CURSOR_PATTERN}),
]  # fmt: skip
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
_BAD_INPUT = {"400": _error("A parameter cannot be read (the message says which).")}
_ADMIN_ONLY = {"403": _error("A viewer's key: only an admin's may do this.")}


def _staff(summary: str, ok: dict[str, dict[str, Any]], **extra: Any) -> dict[str, Any]:
    responses = {
        **ok,
        "401": _json(
            ErrorBody,
            "No staff key, or an unknown, revoked or expired one.",
            headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
        ),
        "503": _error("Database unavailable; see Retry-After."),
    }
    return {"summary": summary, "tags": ["staff"], "security": [{"staffKey": []}],
            "responses": responses, **extra}  # fmt: skip


# Each route's operation, by the route's name (routes/table.py), which is its operationId.
_OPERATIONS: dict[str, dict[str, Any]] = {
    "health": {
        "summary": "Liveness probe (never touches the database)",
        "responses": {"200": _json(Health, "The process serves.", headers=_REQUEST_ID)},
    },
    "ready": {
        "summary": "Readiness: the database answers a ping within 1 s",
        "responses": {
            "200": _json(Readiness, "The database is up."),
            "503": _json(Readiness, "The database is down."),
        },
    },
    "register": {
        "summary": "Register one applicant",
        "parameters": [_IDEMPOTENCY_KEY],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref(RegistrationForm)}},
        },
        "responses": {
            "201": _json(
                RegistrationCreated,
                "Stored and committed; or, for a retry of a registration stored"
                " within the replay window (the same submission, or the same"
                " Idempotency-Key and submission), the row stored then.",
                headers=_REQUEST_ID,
            ),
            "400": _error(
                "A field fails its check, the body is not an object, or the"
                " Idempotency-Key is malformed."
            ),
            "409": _error("Email already exists (another submission)."),
            "413": _error("Body over 16 KiB."),
            "415": _error("Content-Type is not application/json."),
            "422": _error("The Idempotency-Key came with another submission."),
            "500": _error("Unexpected error; quote request_id."),
            "503": _error("Database unavailable; see Retry-After."),
        },
    },
    "programs": {
        "summary": "The programs an applicant can choose",
        "responses": {"200": _json(ProgramList, "The configured programs in order.")},
    },
    "staffKey": _staff(
        "The caller's own key: name, role and expiry",
        {"200": _json(StaffKeyInfo, "The key.")},
    ),
    "listRegistrations": _staff(
        "Registrations, newest first, a page at a time",
        {"200": _json(RegistrationPage, "One page."), **_BAD_INPUT},
        parameters=[*_FILTERS, *_PAGE],
    ),
    "exportRegistrations": _staff(
        "Every matching registration as CSV (UTF-8 with BOM, in id order), streamed",
        {
            "200": {
                "description": "CSV with a header row; formula-like cells prefixed with '.",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            },
            **_BAD_INPUT,
        },
        parameters=_FILTERS,
    ),
    "exportSpreadsheet": _staff(
        "Every matching registration as an .xlsx spreadsheet, by date, in the school's zone",
        {
            "200": {
                "description": "One sheet: typed cells (text, or a date), never a formula.",
                "content": {
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                        "schema": {"type": "string", "format": "binary"}
                    }
                },
            },
            **_BAD_INPUT,
        },
        parameters=_FILTERS,
    ),
    "registrationStats": _staff(
        "Totals per program and per UTC day (the last 30 days by default)",
        {"200": _json(RegistrationStats, "The totals."), **_BAD_INPUT},
        parameters=_FILTERS,
    ),
    "deleteRegistration": _staff(
        "Erase a registration (an applicant's request)",
        {
            "204": {"description": "Erased."},
            "404": _error("No registration has this id."),
            **_ADMIN_ONLY,
        },
        parameters=[_ID],
    ),
    "auditTrail": _staff(
        "The audit trail of staff actions, newest first",
        {"200": _json(AuditPage, "One page."), **_BAD_INPUT, **_ADMIN_ONLY},
        parameters=_AUDIT_PAGE,
    ),
    "openapi": {
        "summary": "This document",
        "responses": {
            "200": {
                "description": "OpenAPI 3 document.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    },
    "docs": {
        "summary": "A page that renders this document",
        "responses": {
            "200": {
                "description": "Swagger UI, served with its own assets.",
                "content": {"text/html": {"schema": {"type": "string"}}},
            }
        },
    },
}


# Routes that are deliberately not in the document: the staff console's page is HTML for
# people, not an operation a client calls (the console itself calls the documented routes).
NOT_API = frozenset({"console"})


def _with_programs(parameter: dict[str, Any], programs: Sequence[Program]) -> dict[str, Any]:
    if parameter["name"] != "program":
        return parameter
    _, blank = parameter["schema"]["anyOf"]
    values = {"enum": [p.value for p in programs]}
    return {**parameter, "schema": {**parameter["schema"], "anyOf": [values, blank]}}


def _paths(
    routes: Sequence[BaseRoute], programs: Sequence[Program], prefix: str = ""
) -> dict[str, dict[str, Any]]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if isinstance(route, Mount):
            for path, item in _paths(route.routes, programs, prefix + route.path).items():
                paths.setdefault(path, {}).update(item)
        elif isinstance(route, Route) and route.include_in_schema and route.name not in NOT_API:
            if route.name not in _OPERATIONS:
                raise LookupError(f"route {route.name!r} ({route.path}) has no operation here")
            # HEAD comes with GET; one method a route keeps the name a unique operationId.
            (method,) = (route.methods or set()) - {"HEAD"}
            operation = {"operationId": route.name, **_OPERATIONS[route.name]}
            if "parameters" in operation:
                operation["parameters"] = [
                    _with_programs(p, programs) for p in operation["parameters"]
                ]
            paths.setdefault(prefix + route.path_format, {})[method.lower()] = operation
    return paths


def openapi_document(
    routes: Sequence[BaseRoute], programs: Sequence[Program], version: str
) -> dict[str, Any]:
    """The whole document of `routes`; the program enum is the configured list."""
    _, top = models_json_schema(_MODELS, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = top["$defs"]
    schemas["RegistrationForm"]["properties"]["program"]["enum"] = [p.value for p in programs]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "schoolapp API",
            "version": version,
            "description": (
                "Registers applicants to the school's programs. Staff routes need a staff"
                " key: Authorize with it, then try them."
            ),
        },
        "paths": _paths(routes, programs),
        "components": {"schemas": schemas, "securitySchemes": _SECURITY_SCHEMES},
    }


_PAGE_HTML = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>schoolapp API</title>
  <link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
  <script src="{ASSETS_PATH}/swagger-init.js"></script>
</body>
</html>
"""


class DocsController:
    """Serves the OpenAPI document of the app's routes, rendered once, and its page."""

    def __init__(self, programs: Sequence[Program], version: str) -> None:
        self._programs = programs
        self._version = version
        self._document: bytes | None = None

    async def openapi(self, request: Request) -> Response:
        """200 with the OpenAPI 3 document."""
        if self._document is None:
            # The routes exist only once the app does, so the first request renders it.
            routes: list[BaseRoute] = request.app.routes
            self._document = orjson.dumps(openapi_document(routes, self._programs, self._version))
        return Response(self._document, media_type="application/json")

    async def page(self, request: Request) -> Response:
        """200 with the Swagger UI page, under a CSP that forbids framing it."""
        return HTMLResponse(_PAGE_HTML, headers={"Content-Security-Policy": DOCS_CSP})

    async def asset(self, request: Request) -> Response:
        """200 with one of the files the page loads; 404 for anything else."""
        name = request.path_params["name"]
        media_type = _ASSETS.get(name)
        if media_type is None:
            raise NotFound("Not found")
        return FileResponse(
            _ASSETS_DIR / name,
            media_type=media_type,
            headers={"Content-Security-Policy": DOCS_CSP},
        )
