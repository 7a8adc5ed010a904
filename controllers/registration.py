"""POST /api/register: check the request, store the applicant, answer 201."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from config.errors import InvalidBody, UnsupportedMediaType
from config.log import add_access_fields
from config.redact import mask_email
from controllers.idempotency import fingerprint, idempotency_key
from controllers.registration_form import parse_registration
from controllers.responses import JsonResponse
from models.db import Database
from models.idempotency import KeyedRequest
from models.registrations import Registrations


class RegistrationController:
    """Registers applicants into the database, one per request.

    `on_registered` is told each new id once its row is committed (the
    confirmation email's hand-off); it does no I/O and cannot fail. A replayed
    registration is not new: its email was owed when it was first stored.
    """

    def __init__(
        self,
        db: Database,
        programs: Sequence[str],
        *,
        replay_window: timedelta,
        on_registered: Callable[[str], None] | None = None,
    ) -> None:
        self._registrations = Registrations(db, replay_window)
        self._programs = tuple(programs)
        self._on_registered = on_registered

    async def register(self, request: Request) -> Response:
        """Validate the JSON body and store it; 201 with the stored values."""
        if not _is_json(request.headers.get("content-type", "")):
            raise UnsupportedMediaType
        key = idempotency_key(request.scope["headers"])
        form = parse_registration(_json_object(await request.body()), self._programs)
        keyed = None if key is None else KeyedRequest(key, fingerprint(form))
        stored = await self._registrations.register(
            form.name, form.email, form.phone, form.program, keyed
        )
        registration = stored.registration
        if self._on_registered is not None and not stored.replayed:
            self._on_registered(registration.id)
        add_access_fields(user_id=registration.id, email=mask_email(registration.email))
        if stored.replayed:
            add_access_fields(replayed=True)
        return JsonResponse(registration.to_json(), status_code=201)


def _is_json(content_type: str) -> bool:
    return content_type.partition(";")[0].strip().lower() == "application/json"


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = _parse_big_numbers(body)
    if not isinstance(data, dict):
        raise InvalidBody
    return data


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _parse_big_numbers(body: bytes) -> Any:
    # orjson refuses numbers beyond a double (1e400, 400-digit integers), which
    # JSON allows; the standard library reads them, so such a body is still an
    # object whose fields get their own checks. Only failed parses come here.
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidBody from None
