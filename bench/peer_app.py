"""The benchmark's peer: the registration app a Python team would write with FastAPI.

Idiomatic and deliberately not tuned: a pydantic model with ``EmailStr``
(email-validator, no DNS look-up) and the contract's four field rules, an
aiomysql pool made in the lifespan and handed to the route through ``Depends``,
one INSERT (uuid4 id, ``created_at`` = UTC now in whole seconds), a response
model (the return annotation) sent as FastAPI's default JSON response, and
exception handlers turning validation and HTTP errors into ``{"error": msg}``.
The ceiling says what the stack can give; the peer, what the usual way gives.

Run: ``python bench/peer_app.py`` with ``PORT``, ``DB_HOST``, ``DB_PORT``,
``DB_USER``, ``DB_PASSWORD``, ``DB_NAME``, ``DB_POOL_MIN``, ``DB_POOL_MAX`` in the
environment (the service's variable names and defaults). The database and its
``users`` table must exist (the benchmark creates them).
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import aiomysql
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, EmailStr, StringConstraints, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

PROGRAMS = ("computer-science", "engineering", "business", "arts", "medicine")
DUPLICATE_KEY = 1062
# created_at is written as UTC: PyMySQL drops the tzinfo and the session's time_zone is UTC.
INSERT_SQL = (
    "INSERT INTO users (id, name, email, phone, program, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)
PHONE_SEPARATORS = re.compile(r"[ \-.()]")
PHONE_DIGITS = re.compile(r"[0-9]{10}")

MESSAGES = {
    "name": "Name must contain only letters, spaces, hyphens, or apostrophes",
    "email": "Invalid email format",
    "phone": "Phone number must be 10 digits",
    "program": f"Invalid program. Must be one of: {', '.join(PROGRAMS)}",
}


class Registration(BaseModel):
    """The form's four fields, validated as the contract says."""

    # pydantic's regex engine (Rust) knows Unicode classes: letters and combining marks.
    name: Annotated[str, StringConstraints(max_length=100, pattern=r"^[\p{L}\p{M} '\u2019-]+$")]
    email: EmailStr
    phone: str
    program: Literal["computer-science", "engineering", "business", "arts", "medicine"]

    @field_validator("name", mode="before")
    @classmethod
    def collapse_spaces(cls, value: object) -> object:
        """Trim the name and collapse inner runs of white space to one space."""
        return " ".join(value.split()) if isinstance(value, str) else value

    @field_validator("email")
    @classmethod
    def email_length(cls, value: str) -> str:
        """At most 100 characters once normalised (the column's size)."""
        if len(value) > 100:
            raise ValueError(MESSAGES["email"])
        return value

    @field_validator("phone")
    @classmethod
    def phone_digits(cls, value: str) -> str:
        """Ten ASCII digits once spaces, hyphens, dots and parentheses are removed."""
        digits = PHONE_SEPARATORS.sub("", value.strip())
        if not PHONE_DIGITS.fullmatch(digits):
            raise ValueError(MESSAGES["phone"])
        return digits


class Applicant(BaseModel):
    """A stored registration, as answered (the response model: no input rules)."""

    id: uuid.UUID
    name: str
    email: str
    phone: str
    program: str
    created_at: datetime


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """One aiomysql pool for the process, sized by the service's variables."""
    env = os.environ
    app.state.pool = await aiomysql.create_pool(
        host=env.get("DB_HOST", "127.0.0.1"),
        port=int(env.get("DB_PORT", "3306")),
        user=env.get("DB_USER", "root"),
        password=env.get("DB_PASSWORD", ""),
        db=env.get("DB_NAME", "schoolapp"),
        minsize=int(env.get("DB_POOL_MIN", "1")),
        maxsize=int(env.get("DB_POOL_MAX", "10")),
        autocommit=True,
        charset="utf8mb4",
        init_command="SET time_zone = '+00:00'",
    )
    yield
    app.state.pool.close()
    await app.state.pool.wait_closed()


app = FastAPI(title="schoolapp peer", lifespan=lifespan)


def get_pool(request: Request) -> Any:
    """The process's pool, for Depends."""
    return request.app.state.pool


Pool = Annotated[Any, Depends(get_pool)]


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Every HTTP error as ``{"error": detail}``."""
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@app.exception_handler(RequestValidationError)
async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A 400 with the contract's message for the first failing check."""
    errors = exc.errors()
    if any(len(e["loc"]) < 2 or e["type"] == "json_invalid" for e in errors):
        message = "Request body must be a JSON object"
    elif any(e["type"] == "missing" or _blank(e.get("input")) for e in errors):
        message = "All fields are required"
    elif errors[0]["loc"][1] == "name" and errors[0]["type"] == "string_too_long":
        message = "Name must be at most 100 characters"
    else:
        message = MESSAGES.get(str(errors[0]["loc"][1]), "Invalid request")
    return JSONResponse({"error": message}, status_code=400)


@app.get("/health")
async def health() -> dict[str, str]:
    """Liveness: never touches the database."""
    return {"status": "OK"}


@app.get("/health/ready")
async def ready(pool: Pool) -> JSONResponse:
    """Readiness: a database ping within 1 s."""
    try:
        async with asyncio.timeout(1.0), pool.acquire() as conn:
            await conn.ping(reconnect=False)
    except (TimeoutError, OSError, aiomysql.Error):
        return JSONResponse({"status": "UNAVAILABLE", "database": "down"}, status_code=503)
    return JSONResponse({"status": "OK", "database": "up"})


@app.post("/api/register", status_code=201)
async def register(registration: Registration, pool: Pool) -> Applicant:
    """Store one applicant: 201 with the row, 409 when the email is taken."""
    new = Applicant(
        **registration.model_dump(),
        id=uuid.uuid4(),
        created_at=datetime.now(UTC).replace(microsecond=0),
    )
    row = (str(new.id), new.name, new.email, new.phone, new.program, new.created_at)
    try:
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(INSERT_SQL, row)
    except aiomysql.IntegrityError as exc:
        if exc.args and exc.args[0] == DUPLICATE_KEY:
            raise HTTPException(status_code=409, detail="Email already exists") from exc
        raise
    return new


if __name__ == "__main__":
    uvicorn.run(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "3000")),
        loop="uvloop",
        http="httptools",
        access_log=False,
    )
