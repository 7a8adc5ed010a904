"""The public form's API: POST /api/register (check, store, answer 201) and GET /api/programs.

The `Idempotency-Key` request header follows draft-ietf-httpapi-idempotency-key-header,
which makes the value a Structured Field String (RFC 8941), quoted:
`Idempotency-Key: "8e03978e-40d5-43e8-bc93-6894a57f9324"`. Many clients send it
bare, so a bare value of visible ASCII without quotes, backslashes or commas is
taken as the key too. A key is 1 to `MAX_KEY_LENGTH` characters, case-sensitive.
The fingerprint a key is checked against is SHA-256 of the submission as it would
be stored (after normalisation), not of the raw body: a client that re-serialises
its JSON, or sends the phone with other separators, is sending the same registration.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive

from config.errors import DuplicateEmail, InvalidBody, InvalidIdempotencyKey, UnsupportedMediaType
from config.log import add_access_fields, mask_email
from config.metrics import METRICS
from config.settings import Program
from controllers.rate_limits import RegistrationLimits
from controllers.registration_form import RegistrationForm, parse_registration
from controllers.responses import JsonResponse
from models.db import Database
from models.idempotency import KeyedRequest
from models.registrations import Registrations


class RegistrationController:
    """Registers applicants into the database, one per request.

    `on_registered` is told each new id, and the client address it came from,
    once its row is committed (the confirmation email's hand-off); it does no
    I/O and cannot fail. A replayed registration is not new: its email was owed
    when it was first stored. The rate limits answer 429 before any database work.
    """

    def __init__(
        self,
        db: Database,
        programs: Sequence[str],
        *,
        replay_window: timedelta,
        limits: RegistrationLimits,
        on_registered: Callable[[str, str], None] | None = None,
    ) -> None:
        self._registrations = Registrations(db, replay_window)
        self._programs = tuple(programs)
        self._limits = limits
        self._on_registered = on_registered

    async def register(self, request: Request) -> Response:
        """Validate the JSON body and store it; 201 with the stored values."""
        # Set by routes/edge.py from the trusted proxy's X-Forwarded-For entry.
        client = request.client.host if request.client else ""
        self._limits.admit(client)
        if not _is_json(request.headers.get("content-type", "")):
            raise UnsupportedMediaType
        key = idempotency_key(request.scope["headers"])
        form = parse_registration(_json_object(await _body(request.receive)), self._programs)
        self._limits.check_mismatches(form.email)
        keyed = None if key is None else KeyedRequest(key, fingerprint(form))
        try:
            stored = await self._registrations.register(
                form.name, form.email, form.phone, form.program, keyed
            )
        except DuplicateEmail:
            self._limits.mismatched(form.email)
            raise
        registration = stored.registration
        METRICS.registered(replayed=stored.replayed)
        if self._on_registered is not None and not stored.replayed:
            self._on_registered(registration.id, client)
        add_access_fields(user_id=registration.id, email=mask_email(registration.email))
        if stored.replayed:
            add_access_fields(replayed=True)
        return JsonResponse(registration.to_json(), status_code=201)


async def _body(receive: Receive) -> bytes:
    """The whole body, as Starlette's `Request.body` reads it but without its async
    generator: 0.3 us against 4.4 on every registration (docs/performance.md)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


# Charsets a body cannot be in and still be read as UTF-8: refused rather than misread.
_WIDE_CHARSETS = ("utf-16", "utf16", "utf-32", "utf32", "ucs-2", "ucs2", "ucs-4", "ucs4")


def _is_json(content_type: str) -> bool:
    # The contract: "a charset parameter is fine", and the body is read as UTF-8
    # (RFC 8259); but a UTF-16 or UTF-32 body read so would be garbage.
    media_type, _, parameters = content_type.partition(";")
    if media_type.strip().lower() != "application/json":
        return False
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset.startswith(_WIDE_CHARSETS):
            return False
    return True


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


class ProgramsController:
    """Serves the program list, rendered once: it cannot change while running."""

    def __init__(self, programs: Sequence[Program]) -> None:
        self._body = orjson.dumps(
            {"programs": [{"value": p.value, "label": p.label} for p in programs]}
        )

    async def list(self, request: Request) -> Response:
        """200 with the programs in their configured order."""
        return Response(self._body, media_type="application/json")


HEADER = b"idempotency-key"
MAX_KEY_LENGTH = 255
MALFORMED = (
    "Idempotency-Key must be one string of printable ASCII characters, "
    'e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324"'
)
TOO_LONG = f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters"
# The key column's collation ignores trailing spaces, so "k1 " would be "k1"'s key.
SPACED = "Idempotency-Key must not begin or end with a space"

# RFC 8941 sf-string: printable ASCII, `"` and `\` escaped by a backslash; or bare:
# visible ASCII but `"`, `,` and `\`. Servers strip the spaces around a value.
_QUOTED_CHAR = r'(?:[ !#-\[\]-~]|\\["\\])'
_QUOTED_EDGE = r'(?:[!#-\[\]-~]|\\["\\])'  # the same but a space: a key's ends
_BARE_CHAR = r"[!#-+\--\[\]-~]"
_FORM = r'[ \t]*(?:"({quoted}{count})"|({bare}{count}))[ \t]*'
_KEY = re.compile(_FORM.format(quoted=_QUOTED_CHAR, bare=_BARE_CHAR, count="*"))
_ESCAPE = re.compile(r"\\(.)")
# The OpenAPI document's pattern: exactly the values `idempotency_key` accepts (a quoted
# key neither begins nor ends with a space).
_DOCUMENTED_QUOTED = f"{_QUOTED_EDGE}(?:{_QUOTED_CHAR}{{0,{MAX_KEY_LENGTH - 2}}}{_QUOTED_EDGE})?"
KEY_PATTERN = rf'^[ \t]*(?:"{_DOCUMENTED_QUOTED}"|{_BARE_CHAR}{{1,{MAX_KEY_LENGTH}}})[ \t]*$'


def idempotency_key(raw_headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The request's key, None without the header; InvalidIdempotencyKey if unusable.

    Reads the ASGI scope's raw headers: every registration asks, and this costs
    a third of what Starlette's `Headers.getlist` costs (docs/performance.md).
    """
    values = [value for name, value in raw_headers if name == HEADER]
    if not values:
        return None
    form = _KEY.fullmatch(values[0].decode("latin-1")) if len(values) == 1 else None
    if form is None:
        raise InvalidIdempotencyKey(MALFORMED)
    quoted, bare = form.groups()
    key = bare if quoted is None else _ESCAPE.sub(r"\1", quoted)
    if not key:
        raise InvalidIdempotencyKey(MALFORMED)
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(TOO_LONG)
    if key[0] == " " or key[-1] == " ":
        raise InvalidIdempotencyKey(SPACED)
    return key


def fingerprint(form: RegistrationForm) -> str:
    """SHA-256 (hex) of the normalised submission."""
    fields = [form.name, form.email, form.phone, form.program]
    return hashlib.sha256(orjson.dumps(fields)).hexdigest()
