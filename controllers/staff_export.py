"""GET /api/registrations.csv: every matching registration, streamed as CSV.

Rows are read in keyset batches of BATCH_ROWS along the primary key (so in id
order, not by date: see models.registrations.batch), each batch its own short
query on a pooled connection that goes back to the pool before the batch is
sent: memory stays flat whatever the size, and no connection is held while a
slow client reads. The audit row is written when the stream ends, with the number of
rows sent and whether the export was complete.

An export shares the event loop with registrations, and formatting CSV is CPU
work, so after each batch the export pauses EXPORT_PAUSE_FACTOR times as long as
the batch took: at most a sixth of the loop, less when the loop is busy
(measured in docs/performance.md with bench/export.py).

The CSV is for spreadsheets: UTF-8 with a BOM (Excel reads a file as UTF-8 only
then), a header row, CRLF, every cell quoted, and a cell that starts with =, +,
-, @, a tab or a carriage return prefixed with a single quote so that no
spreadsheet runs it as a formula (OWASP's advice against CSV injection).
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Send

from controllers.staff_audit import audit, filters_detail
from controllers.staff_auth import StaffAuth
from controllers.staff_params import FILTERS, only, registration_filters
from models.db import Database
from models.registrations import Filters, Registration, batch

BATCH_ROWS = 1000
BOM = "\ufeff"
EXPORT_PAUSE_FACTOR = 5.0
HEADER = ("id", "name", "email", "phone", "program", "created_at_utc")
_MEDIA_TYPE = "text/csv; charset=utf-8"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """`cell`, with a leading ' when a spreadsheet would read it as a formula."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def csv_rows(rows: Iterable[Sequence[str]]) -> str:
    """`rows` as CSV text: every cell quoted and neutralised, lines ended by CRLF."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
    return buffer.getvalue()


class StreamThenClose(StreamingResponse):
    """Streams `content`, then awaits `on_close`: after the last chunk, a failure or a
    client that went away (the step is shielded from that cancellation)."""

    def __init__(
        self,
        content: AsyncIterable[bytes],
        *,
        on_close: Callable[[], Awaitable[None]],
        media_type: str,
        headers: Mapping[str, str],
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self._on_close = on_close

    async def stream_response(self, send: Send) -> None:
        """Send every chunk, then run `on_close` whatever happened."""
        try:
            await super().stream_response(send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._on_close()


@dataclass
class Progress:
    """How far an export got: the rows in it, and whether it reached the end."""

    rows: int = 0
    complete: bool = False


def _cells(row: Registration) -> tuple[str, ...]:
    # A date-time without T or Z, so that spreadsheets read it as one.
    created = f"{row.created_at:%Y-%m-%d %H:%M:%S}"
    return (row.id, row.name, row.email, row.phone or "", row.program or "", created)


def attachment(
    request: Request,
    extension: str,
    media_type: str,
    chunks: Callable[[], AsyncIterable[bytes]],
    on_close: Callable[[], Awaitable[None]],
) -> Response:
    """An export's answer: a dated file to save, streamed; to HEAD, its headers alone."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    headers = {"Content-Disposition": f'attachment; filename="registrations-{stamp}.{extension}"'}
    if request.method == "HEAD":
        # The headers a GET would get; no rows read, so nothing exported to audit.
        return Response(media_type=media_type, headers=headers)
    return StreamThenClose(chunks(), on_close=on_close, media_type=media_type, headers=headers)


class ExportController:
    """Streams the registrations a staff member asked for."""

    def __init__(self, db: Database, auth: StaffAuth, programs: Sequence[str]) -> None:
        self._db = db
        self._auth = auth
        self._programs = programs

    async def export(self, request: Request) -> Response:
        """200 text/csv, streamed; the same filters as the list."""
        key = await self._auth.authenticate(request)
        filters = registration_filters(only(request.query_params, FILTERS), self._programs)
        progress = Progress()

        async def audit_export() -> None:
            detail = {**filters_detail(filters), "complete": progress.complete}
            await audit(self._db, key, "registrations.export", detail, progress.rows)

        return attachment(
            request, "csv", _MEDIA_TYPE, lambda: self._chunks(filters, progress), audit_export
        )

    async def _chunks(self, filters: Filters, progress: Progress) -> AsyncIterator[bytes]:
        yield (BOM + csv_rows([HEADER])).encode()
        after: str | None = None
        while True:
            started = time.perf_counter()
            rows = await batch(self._db, filters, after, BATCH_ROWS)
            chunk = csv_rows(_cells(row) for row in rows).encode() if rows else b""
            took = time.perf_counter() - started
            if chunk:
                yield chunk
                progress.rows += len(rows)
            if len(rows) < BATCH_ROWS:
                progress.complete = True
                return
            after = rows[-1].id
            await asyncio.sleep(took * EXPORT_PAUSE_FACTOR)
