"""GET /api/staff/key: the caller's own key, as the console shows it (name, role, expiry)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from controllers.responses import JsonResponse
from controllers.staff_audit import audit
from controllers.staff_auth import StaffAuth
from models.db import Database
from models.registrations import utc_iso


class StaffKeyController:
    """Tells a signed-in console whose key it holds, so it shows only what the role may do."""

    def __init__(self, db: Database, auth: StaffAuth) -> None:
        self._db = db
        self._auth = auth

    async def show(self, request: Request) -> Response:
        """200 {"name", "role": "viewer"|"admin", "expires_at": ISO or null}."""
        key = await self._auth.authenticate(request)
        # A console calls this once when it opens: the trail shows each sign-in.
        await audit(self._db, key, "staff_key.read", {}, None)
        expires = utc_iso(key.expires_at) if key.expires_at is not None else None
        return JsonResponse({"name": key.name, "role": key.role, "expires_at": expires})
