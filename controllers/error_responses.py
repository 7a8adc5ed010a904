"""The one place where exceptions become HTTP answers, as the contract words them.

The handlers are coroutines although none awaits anything: Starlette runs a plain
function handler in a worker thread, and the first such call of a process imports
anyio's thread machinery and starts the thread, so the first 409 of a process would
take several times as long as a 201 (docs/performance.md, bench/latency_409.py).
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from config.errors import (
    BodyTimeout,
    DatabaseUnavailable,
    DuplicateEmail,
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    RequestRejected,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from config.log import request_id_var
from controllers.responses import JsonResponse

logger = logging.getLogger("schoolapp.errors")

RETRY_AFTER_SECONDS = "5"
UNAVAILABLE = "Service temporarily unavailable, please try again"
KEY_REUSED = "Idempotency-Key was already used with a different request body"
TOO_MANY = "Too many requests, please try again later"

FORBIDDEN = "This staff key may not do that"

_HTTP_MESSAGES = {404: "Not found", 405: "Method not allowed"}


async def rejected(request: Request, exc: Exception) -> Response:
    """A request that broke a rule: 400, 408, 413 or 415 with the rule's message."""
    assert isinstance(exc, RequestRejected)
    body: dict[str, object] = {"error": exc.message}
    if isinstance(exc, ValidationFailed):
        body["details"] = [{"field": d.field, "message": d.message} for d in exc.details]
    # A body that stopped arriving leaves the connection mid-request: it cannot be reused.
    headers = {"Connection": "close"} if isinstance(exc, BodyTimeout) else None
    return JsonResponse(body, status_code=exc.status_code, headers=headers)


async def duplicate_email(request: Request, exc: Exception) -> Response:
    """409: the address is registered already."""
    assert isinstance(exc, DuplicateEmail)
    return JsonResponse({"error": "Email already exists"}, status_code=exc.status_code)


async def idempotency_key_reused(request: Request, exc: Exception) -> Response:
    """422: the key came back with another submission than the one it names."""
    assert isinstance(exc, IdempotencyKeyReused)
    return JsonResponse({"error": KEY_REUSED}, status_code=exc.status_code)


async def too_many_requests(request: Request, exc: Exception) -> Response:
    """429 with Retry-After: a client address or an email address over its limit."""
    assert isinstance(exc, TooManyRequests)
    return JsonResponse(
        {"error": TOO_MANY},
        status_code=exc.status_code,
        headers={"Retry-After": str(exc.retry_after)},
    )


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """503 with Retry-After: the database is down or too slow; the client may retry."""
    assert isinstance(exc, DatabaseUnavailable)
    logger.warning("database unavailable: %s", exc)
    return JsonResponse(
        {"error": UNAVAILABLE},
        status_code=exc.status_code,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


async def unauthorized(request: Request, exc: Exception) -> Response:
    """401 with the RFC 6750 challenge: a staff route without a valid staff key."""
    assert isinstance(exc, Unauthorized)
    challenge = 'Bearer realm="schoolapp staff"'
    if exc.invalid_token:
        challenge += ', error="invalid_token"'
    return JsonResponse(
        {"error": exc.message},
        status_code=exc.status_code,
        headers={"WWW-Authenticate": challenge},
    )


async def forbidden(request: Request, exc: Exception) -> Response:
    """403: the key is valid, its role does not allow this (a viewer erasing, say)."""
    assert isinstance(exc, Forbidden)
    return JsonResponse({"error": FORBIDDEN}, status_code=exc.status_code)


async def not_found(request: Request, exc: Exception) -> Response:
    """404 for a resource the path names but that does not exist."""
    assert isinstance(exc, NotFound)
    return JsonResponse({"error": exc.message}, status_code=exc.status_code)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405 (with its Allow header), as JSON."""
    assert isinstance(exc, HTTPException)
    message = _HTTP_MESSAGES.get(exc.status_code, exc.detail)
    return JsonResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)


async def client_disconnected(request: Request, exc: Exception) -> Response:
    """The client left before sending its whole body: nobody to answer, nothing wrong here.

    The status is nginx's 499 "client closed request", for the access log only.
    """
    return JsonResponse({"error": "Client closed the request"}, status_code=499)


def unexpected_error(exc: BaseException) -> Response:
    """500 for anything unforeseen: the details go to the log only, with the request id."""
    request_id = request_id_var.get()
    logger.error("unhandled error", exc_info=exc)
    return JsonResponse(
        {"error": "Internal server error", "request_id": request_id}, status_code=500
    )


EXCEPTION_HANDLERS = {
    RequestRejected: rejected,
    DuplicateEmail: duplicate_email,
    IdempotencyKeyReused: idempotency_key_reused,
    TooManyRequests: too_many_requests,
    Unauthorized: unauthorized,
    Forbidden: forbidden,
    NotFound: not_found,
    DatabaseUnavailable: database_unavailable,
    HTTPException: http_error,
    ClientDisconnect: client_disconnected,
}
