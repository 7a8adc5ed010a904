"""CORS for the configured origins only, with JSON answers like every other route.

Starlette's middleware does the work; two of its answers are adjusted to the
contract: an origin that is not listed gets no CORS header at all (Starlette
would still send Expose-Headers and a preflight's Allow-* headers), and a
refused preflight answers JSON rather than plain text.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware import cors
from starlette.responses import Response
from starlette.types import Message, Send

from controllers.responses import JsonResponse


class CORSMiddleware(cors.CORSMiddleware):
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
        """Add CORS headers to a response only for an allowed origin."""
        origin = request_headers.get("origin")
        if origin is not None and not self.is_allowed_origin(origin):
            await send(message)
            return
        await super().send(message, send, request_headers)


def _cors_headers(response: Response) -> dict[str, str]:
    return {
        k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")
    }
