"""The ALB's shallow probe, and the readiness check that pings the database."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from controllers.responses import JsonResponse
from models.db import Database

READY_PING_TIMEOUT = 1.0
HEALTH_BODY = b'{"status":"OK"}'


async def health(request: Request) -> Response:
    """200 at once: the process serves. Never touches the database.

    A GET is answered before routing (`routes.edge.HotPaths`); this
    answers HEAD.
    """
    return Response(HEALTH_BODY, media_type="application/json")


class ReadinessController:
    """Answers whether the database is reachable right now."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def ready(self, request: Request) -> Response:
        """200 when a ping succeeds within a second, else 503."""
        if await self._db.ping(READY_PING_TIMEOUT):
            return JsonResponse({"status": "OK", "database": "up"})
        return JsonResponse({"status": "UNAVAILABLE", "database": "down"}, status_code=503)
