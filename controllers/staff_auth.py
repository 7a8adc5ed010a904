"""Who is calling a staff route: the staff key in `Authorization: Bearer <key>`, and its role."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request

from config.errors import Forbidden, Unauthorized
from config.log import add_access_fields
from controllers.staff_refusals import RefusalAudit
from models.db import Database
from models.staff_keys import StaffKey, hash_key, key_for, note_use

# Enough of the presented key's SHA-256 to tell bad keys apart in logs and the audit trail.
HASH_PREFIX_HEX = 12


class StaffAuth:
    """Checks the bearer key of a staff request against the stored keys, every time.

    Nothing is cached: a revoked or expired key is refused from the next request on,
    in every task. The lookup is one indexed query (docs/performance.md). A refused
    key is audited (bounded, controllers/staff_refusals.py) and named on the access
    line by its id and name, or by a prefix of its hash when it is unknown.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._refusals = RefusalAudit(db)

    async def authenticate(self, request: Request, *, admin_for: str | None = None) -> StaffKey:
        """The caller's key; Unauthorized when missing, unknown, revoked or expired.

        With `admin_for` (the action's name), Forbidden unless the key is an admin's.
        """
        header = request.headers.get("authorization")
        if header is None:
            raise Unauthorized("A staff key is required", invalid_token=False)
        scheme, _, presented = header.partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            raise Unauthorized("Authorization must be 'Bearer <staff key>'", invalid_token=True)
        key = await key_for(self._db, presented)
        if key is None:
            await self._refuse(presented, "unknown", None)
            raise Unauthorized("Invalid staff key", invalid_token=True)
        add_access_fields(staff_key=key.name, staff_key_id=key.id)
        if key.revoked_at is not None:
            await self._refuse(presented, "revoked", key)
            raise Unauthorized("Staff key revoked", invalid_token=True)
        if key.expired(datetime.now(UTC).replace(tzinfo=None)):
            await self._refuse(presented, "expired", key)
            raise Unauthorized("Staff key expired", invalid_token=True)
        await note_use(self._db, key)
        if admin_for is not None and key.role != "admin":
            await self._refuse(presented, "forbidden", key)
            raise Forbidden(admin_for)
        return key

    async def _refuse(self, presented: str, reason: str, key: StaffKey | None) -> None:
        key_hash = hash_key(presented).hex()[:HASH_PREFIX_HEX]
        add_access_fields(staff_refused=reason, staff_key_hash=key_hash)
        await self._refusals.refused(key_hash, reason, key)
