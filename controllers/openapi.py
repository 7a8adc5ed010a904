"""The OpenAPI 3 document, generated from the same pydantic models the controllers use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from config.programs import Program
from controllers.openapi_staff import SECURITY_SCHEMES, STAFF_MODELS, staff_paths
from controllers.registration import KEY_PATTERN
from controllers.registration_form import RegistrationForm
from controllers.schemas import (
    ErrorBody,
    Health,
    ProgramList,
    Readiness,
    RegisteredApplicant,
)

_MODELS: list[tuple[type[BaseModel], JsonSchemaMode]] = [
    (RegistrationForm, "validation"),
    (RegisteredApplicant, "serialization"),
    (ErrorBody, "serialization"),
    (ProgramList, "serialization"),
    (Health, "serialization"),
    (Readiness, "serialization"),
    *((model, "serialization") for model in STAFF_MODELS),
]


_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a retry safe (draft-ietf-httpapi-idempotency-key-header): the same"
    " key with the same submission gets the first answer's row; with another, 422. Quoted"
    " (a Structured Field String) or bare; 1 to 255 characters.",
    "schema": {"type": "string", "pattern": KEY_PATTERN},
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


def openapi_document(programs: Sequence[Program], version: str) -> dict[str, Any]:
    """The whole document; the program enum is the configured list."""
    _, top = models_json_schema(_MODELS, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = top["$defs"]
    schemas["RegistrationForm"]["properties"]["program"]["enum"] = [p.value for p in programs]
    request_id = {
        "X-Request-ID": {
            "description": "The request's id: the client's when sane, else generated.",
            "schema": {"type": "string"},
        }
    }
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
        "paths": {
            "/health": {
                "get": {
                    "summary": "Liveness probe (never touches the database)",
                    "operationId": "health",
                    "responses": {"200": _json(Health, "The process serves.", headers=request_id)},
                }
            },
            "/health/ready": {
                "get": {
                    "summary": "Readiness: the database answers a ping within 1 s",
                    "operationId": "ready",
                    "responses": {
                        "200": _json(Readiness, "The database is up."),
                        "503": _json(Readiness, "The database is down."),
                    },
                }
            },
            "/api/register": {
                "post": {
                    "summary": "Register one applicant",
                    "operationId": "register",
                    "parameters": [_IDEMPOTENCY_KEY],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(RegistrationForm)}},
                    },
                    "responses": {
                        "201": _json(
                            RegisteredApplicant,
                            "Stored and committed; or, for a retry of a registration stored"
                            " within the replay window (the same submission, or the same"
                            " Idempotency-Key and submission), the row stored then.",
                            headers=request_id,
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
                }
            },
            "/api/programs": {
                "get": {
                    "summary": "The programs an applicant can choose",
                    "operationId": "programs",
                    "responses": {"200": _json(ProgramList, "The configured programs in order.")},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3 document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/docs": {
                "get": {
                    "summary": "A page that renders this document",
                    "operationId": "docs",
                    "responses": {
                        "200": {
                            "description": "Swagger UI, served with its own assets.",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            **staff_paths(),
        },
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }
