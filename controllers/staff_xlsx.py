"""GET /api/registrations.xlsx: the matching registrations as a spreadsheet for people.

The same filters as the list; rows sorted by registration time (oldest first), read in
keyset batches on (created_at, id), each its own short query, and written to a
temporary file (controllers/spreadsheet.py). An .xlsx is a zip that is whole only at
the end, so the file is sent once written; the headers go out at once. Like the CSV
export it pauses EXPORT_PAUSE_FACTOR times as long as each batch took, so
registrations keep their pace meanwhile; the writing runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from config.settings import Program
from controllers.spreadsheet import RegistrationSheet
from controllers.staff_audit import audit, filters_detail
from controllers.staff_auth import StaffAuth
from controllers.staff_export import EXPORT_PAUSE_FACTOR, Progress, attachment
from controllers.staff_params import FILTERS, only, registration_filters
from models.db import Database
from models.registrations import Filters, Position, by_date

# Each batch scans the matching rows (no index on created_at): few, large batches.
BATCH_ROWS = 10_000
CHUNK_BYTES = 64 * 1024
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class XlsxExportController:
    """Writes, then sends, the spreadsheet a staff member asked for."""

    def __init__(
        self, db: Database, auth: StaffAuth, programs: Sequence[Program], zone: ZoneInfo
    ) -> None:
        self._db = db
        self._auth = auth
        self._programs = [p.value for p in programs]
        self._labels = {p.value: p.label for p in programs}
        self._zone = zone

    async def export(self, request: Request) -> Response:
        """200 with the .xlsx; the same filters as the list."""
        key = await self._auth.authenticate(request)
        filters = registration_filters(only(request.query_params, FILTERS), self._programs)
        progress = Progress()

        async def audit_export() -> None:
            detail = {**filters_detail(filters), "complete": progress.complete, "format": "xlsx"}
            await audit(self._db, key, "registrations.export", detail, progress.rows)

        return attachment(
            request, "xlsx", MEDIA_TYPE, lambda: self._chunks(filters, progress), audit_export
        )

    async def _chunks(self, filters: Filters, progress: Progress) -> AsyncIterator[bytes]:
        with tempfile.TemporaryDirectory(prefix="schoolapp-xlsx-") as folder:
            sheet = RegistrationSheet(Path(folder), self._labels, self._zone)
            after: Position | None = None
            while True:
                started = time.perf_counter()
                rows = await by_date(self._db, filters, after, BATCH_ROWS)
                await asyncio.to_thread(sheet.add, rows)
                took = time.perf_counter() - started
                progress.rows += len(rows)
                if len(rows) < BATCH_ROWS:
                    break
                after = Position(rows[-1].created_at, rows[-1].id)
                await asyncio.sleep(took * EXPORT_PAUSE_FACTOR)
            path = await asyncio.to_thread(sheet.close)
            with path.open("rb") as file:
                while chunk := await asyncio.to_thread(file.read, CHUNK_BYTES):
                    yield chunk
            progress.complete = True
