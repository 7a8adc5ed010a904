"""The audit trail of staff requests: writing one row each, and GET /api/audit.

Rows never hold applicant data. Filters are recorded as given except `q`,
which may be part of a name or an address: only its length is kept, enough to
see that a search was made without recording whom it was for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from config.errors import InvalidParameter
from config.log import request_id_var
from config.metrics import METRICS
from controllers.responses import JsonResponse
from controllers.staff_auth import StaffAuth
from controllers.staff_params import PAGING, limit, only
from models.audit import AuditEntry, AuditRow, newest, record
from models.db import Database
from models.registrations import Filters, utc_iso
from models.staff_keys import StaffKey


def filters_detail(filters: Filters) -> dict[str, object]:
    """The filters, fit for the audit trail (`q` as its length)."""
    detail: dict[str, object] = {}
    if filters.program is not None:
        detail["program"] = filters.program
    if filters.since is not None:
        detail["since"] = utc_iso(filters.since)
    if filters.before is not None:
        detail["before"] = utc_iso(filters.before)
    if filters.search is not None:
        detail["q_length"] = len(filters.search)
    return detail


async def audit(
    db: Database,
    key: StaffKey,
    action: str,
    detail: Mapping[str, object],
    row_count: int | None,
) -> None:
    """Write the audit row of the request being served."""
    entry = AuditEntry(key.name, action, dict(detail), row_count, request_id_var.get())
    await record(db, entry)
    METRICS.staff_action()


def _entry(row: AuditRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at.isoformat(timespec="milliseconds") + "Z",
        "key_name": row.entry.key_name,
        "action": row.entry.action,
        "detail": row.entry.detail,
        "row_count": row.entry.row_count,
        "request_id": row.entry.request_id,
    }


class AuditController:
    """GET /api/audit: the trail, newest first, a page at a time."""

    def __init__(self, db: Database, auth: StaffAuth) -> None:
        self._db = db
        self._auth = auth

    async def list(self, request: Request) -> Response:
        """200 {"entries": [...], "next": cursor or null}."""
        key = await self._auth.authenticate(request, admin_for="audit.read")
        params = only(request.query_params, PAGING)
        size = limit(params)
        before_id = _audit_cursor(params.get("cursor"))
        rows = await newest(self._db, size + 1, before_id)
        more, rows = len(rows) > size, rows[:size]
        await audit(self._db, key, "audit.read", {"cursor": before_id is not None}, len(rows))
        return JsonResponse(
            {"entries": [_entry(r) for r in rows], "next": str(rows[-1].id) if more else None}
        )


# The trail's `next`: an entry's id (a BIGINT, so at most 19 digits).
AUDIT_CURSOR_PATTERN = r"^[0-9]{1,19}$"


def _audit_cursor(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise InvalidParameter("cursor is not a `next` value this service gave")
    return int(text)
