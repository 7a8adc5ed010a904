"""Staff routes over registrations: the filtered list, day and program totals, erasure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from config.errors import InvalidParameter, NotFound
from controllers.responses import JsonResponse
from controllers.staff_audit import audit, filters_detail
from controllers.staff_auth import StaffAuth
from controllers.staff_params import (
    FILTERS,
    PAGING,
    SINCE_AFTER_UNTIL,
    cursor,
    encode_cursor,
    limit,
    only,
    registration_filters,
)
from models.db import Database
from models.mail_outbox import mail_counts
from models.registrations import Filters, Position, count, delete, page, totals, utc_iso

DEFAULT_STATS_DAYS = 30


def _default_since(before: datetime) -> datetime:
    # An until in the first 30 days of year 1 has fewer before it: the range starts with them.
    if before - datetime.min <= timedelta(days=DEFAULT_STATS_DAYS):
        return datetime.min
    return before - timedelta(days=DEFAULT_STATS_DAYS)


class StaffRegistrationsController:
    """GET /api/registrations, GET /api/registrations/stats, DELETE /api/registrations/{id}."""

    def __init__(self, db: Database, auth: StaffAuth, programs: Sequence[str]) -> None:
        self._db = db
        self._auth = auth
        self._programs = programs

    async def list(self, request: Request) -> Response:
        """200 {"registrations": [...], "next": cursor or null, "total": all matches}."""
        key = await self._auth.authenticate(request)
        params = only(request.query_params, FILTERS + PAGING)
        filters = registration_filters(params, self._programs)
        size, after = limit(params), cursor(params)
        rows = await page(self._db, filters, after, size + 1)
        more, rows = len(rows) > size, rows[:size]
        following = encode_cursor(Position(rows[-1].created_at, rows[-1].id)) if more else None
        total = await count(self._db, filters)
        detail = {**filters_detail(filters), "cursor": after is not None, "limit": size}
        await audit(self._db, key, "registrations.list", detail, len(rows))
        return JsonResponse(
            {"registrations": [r.to_json() for r in rows], "next": following, "total": total}
        )

    async def stats(self, request: Request) -> Response:
        """200 with totals per program and per UTC day, and the emails; the last 30 days
        by default."""
        key = await self._auth.authenticate(request)
        filters = registration_filters(only(request.query_params, FILTERS), self._programs)
        before = filters.before
        if before is None:
            today = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0)
            before = today.replace(microsecond=0) + timedelta(days=1)
        since = filters.since or _default_since(before)
        if since >= before:
            raise InvalidParameter(SINCE_AFTER_UNTIL)
        bounded = Filters(filters.program, since, before, filters.search)
        counted = await totals(self._db, bounded)
        total = sum(count for _, count in counted.by_program)
        emails = await mail_counts(self._db, since, before)
        await audit(self._db, key, "registrations.stats", filters_detail(bounded), total)
        return JsonResponse(
            {
                "since": utc_iso(since),
                "before": utc_iso(before),
                "total": total,
                "by_program": [{"program": p, "count": n} for p, n in counted.by_program],
                "by_day": [{"day": d.isoformat(), "count": n} for d, n in counted.by_day],
                "emails": asdict(emails),
            }
        )

    async def delete(self, request: Request) -> Response:
        """204 once the registration is erased; 404 when there is none with that id."""
        key = await self._auth.authenticate(request, admin_for="registrations.delete")
        # The route takes UUIDs only (ids are uuid4, lower-case as str() writes them).
        registration_id = str(request.path_params["id"])
        erased = await delete(self._db, registration_id)
        detail = {"id": registration_id}
        await audit(self._db, key, "registrations.delete", detail, 1 if erased else 0)
        if not erased:
            raise NotFound("Registration not found")
        return Response(status_code=204)
