"""Who is calling a staff route: the staff key in `Authorization: Bearer <key>`."""

from __future__ import annotations

from starlette.requests import Request

from config.errors import Unauthorized
from config.log import add_access_fields
from models.db import Database
from models.staff_keys import StaffKey, key_for, note_use


class StaffAuth:
    """Checks the bearer key of a staff request against the stored keys, every time.

    Nothing is cached: a revoked key is refused from the next request on, in
    every task. The lookup is one indexed query (docs/performance.md).
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def authenticate(self, request: Request) -> StaffKey:
        """The caller's key; Unauthorized when it is missing, unknown or revoked."""
        header = request.headers.get("authorization")
        if header is None:
            raise Unauthorized("A staff key is required", invalid_token=False)
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise Unauthorized("Authorization must be 'Bearer <staff key>'", invalid_token=True)
        key = await key_for(self._db, presented.strip())
        if key is None:
            raise Unauthorized("Invalid staff key", invalid_token=True)
        if key.revoked_at is not None:
            raise Unauthorized("Staff key revoked", invalid_token=True)
        await note_use(self._db, key)
        add_access_fields(staff_key=key.name)
        return key
