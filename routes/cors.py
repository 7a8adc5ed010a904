"""CORS: the public form's policy (CORS_ORIGINS) and the staff tools' (STAFF_CORS_ORIGINS).

A staff key is never meant to be used from the public form's origin, so staff
paths get CORS headers only from their own list, and public paths only from
theirs. Each policy is Starlette's CORS middleware around the same app (a policy
with no origins is none at all), with two of its answers adjusted to the
contract: an origin that is not listed gets no CORS header at all (Starlette
would still send Expose-Headers and a preflight's Allow-* headers), and a
refused preflight answers JSON rather than plain text.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import cors
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controllers.responses import JsonResponse


class CORSByPath:
    """Sends staff paths through the staff policy and every other path through the public one."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        public_origins: Sequence[str],
        staff_origins: Sequence[str],
        staff_prefixes: tuple[str, ...],
    ) -> None:
        self.public: ASGIApp = app
        self.staff: ASGIApp = app
        if public_origins:
            self.public = _Policy(
                app,
                allow_origins=public_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Content-Type", "X-Request-ID", "Idempotency-Key"],
                expose_headers=["X-Request-ID", "Retry-After"],
            )
        if staff_origins:
            self.staff = _Policy(
                app,
                allow_origins=staff_origins,
                allow_methods=["GET", "DELETE"],
                allow_headers=["Authorization", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After", "Content-Disposition"],
            )
        self.staff_prefixes = staff_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Apply the policy of the request's path."""
        if scope["type"] == "http" and scope["path"].startswith(self.staff_prefixes):
            await self.staff(scope, receive, send)
        else:
            await self.public(scope, receive, send)


class _Policy(cors.CORSMiddleware):
    """Starlette's CORS middleware, silent towards origins that are not allowed."""

    def preflight_response(self, request_headers: Headers) -> Response:
        """A 204 for an allowed preflight; a JSON 400 without CORS headers otherwise."""
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return Response(status_code=204, headers=_cors_headers(response))
        if self.is_allowed_origin(request_headers["origin"]):
            return JsonResponse(
                {"error": "CORS preflight not allowed"},
                status_code=400,
                headers=_cors_headers(response),
            )
        return JsonResponse(
            {"error": "CORS origin not allowed"}, status_code=400, headers={"Vary": "Origin"}
        )

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        """Add CORS headers to a response only for an allowed origin; `Vary: Origin` always."""
        origin = request_headers.get("origin")
        if origin is not None and not self.is_allowed_origin(origin):
            # A cache must not serve this header-less answer to an allowed origin.
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).add_vary_header("Origin")
            await send(message)
            return
        await super().send(message, send, request_headers)


def _cors_headers(response: Response) -> dict[str, str]:
    return {
        k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")
    }
