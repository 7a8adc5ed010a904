"""Registrations as an .xlsx workbook, written a batch of rows at a time to a folder.

Every cell is typed as the value is: text with write_string, which never reads a
formula, a number or a date into it (so `+1@example.com`, `-Bob` and a phone's
leading zero stay exactly as stored, with no apostrophe), and the registration time
with write_datetime, as a date the spreadsheet can sort and filter, in the school's
time zone. constant_memory mode writes each row out as it goes: memory stays flat
whatever the number of rows (docs/performance.md, bench/xlsx_export.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

from models.registrations import Registration

SHEET = "Registrations"
FILE = "registrations.xlsx"
# (header, width in characters); the first header gets the zone's name.
COLUMNS = (("Registered", 20), ("Name", 28), ("Email", 34), ("Phone", 14), ("Program", 20),
           ("ID", 38))  # fmt: skip


class RegistrationSheet:
    """A workbook being written under `folder`: `add` batches in order, then `close`."""

    def __init__(self, folder: Path, labels: Mapping[str, str], zone: ZoneInfo) -> None:
        self._path = folder / FILE
        self._labels = labels
        self._zone = zone
        # Imported at the first export: an idle serving process need not hold it (5 MB).
        import xlsxwriter  # noqa: PLC0415

        self._book = xlsxwriter.Workbook(
            str(self._path), {"constant_memory": True, "tmpdir": str(folder)}
        )
        self._sheet = self._book.add_worksheet(SHEET)
        self._when = self._book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        bold = self._book.add_format({"bold": True})
        for column, (header, width) in enumerate(COLUMNS):
            self._sheet.set_column(column, column, width)
            title = f"{header} ({zone.key})" if column == 0 else header
            self._sheet.write_string(0, column, title, bold)
        self._sheet.freeze_panes(1, 0)
        self._next_row = 1

    def add(self, rows: Iterable[Registration]) -> None:
        """Append `rows` (already in their final order)."""
        sheet, line = self._sheet, self._next_row
        for row in rows:
            # Stored as naive UTC; the sheet shows the school's wall-clock time.
            local = row.created_at.replace(tzinfo=UTC).astimezone(self._zone).replace(tzinfo=None)
            sheet.write_datetime(line, 0, local, self._when)
            sheet.write_string(line, 1, row.name)
            sheet.write_string(line, 2, row.email)
            if row.phone is not None:
                sheet.write_string(line, 3, row.phone)
            if row.program is not None:
                sheet.write_string(line, 4, self._labels.get(row.program, row.program))
            sheet.write_string(line, 5, row.id)
            line += 1
        self._next_row = line

    def close(self) -> Path:
        """Finish the file; its path."""
        self._book.close()
        return self._path
