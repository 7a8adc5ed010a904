"""Two CORS policies: the public form's (CORS_ORIGINS) and the staff tools' (STAFF_CORS_ORIGINS).

A staff key is never meant to be used from the public form's origin, so staff
paths get CORS headers only from their own list, and public paths only from
theirs. Each policy is its own CORSMiddleware around the same app; a policy with
no origins is no middleware at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from controllers.middleware.cors import CORSMiddleware


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
            self.public = CORSMiddleware(
                app,
                allow_origins=public_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Content-Type", "X-Request-ID", "Idempotency-Key"],
                expose_headers=["X-Request-ID", "Retry-After"],
            )
        if staff_origins:
            self.staff = CORSMiddleware(
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
