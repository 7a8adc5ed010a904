"""CSV for spreadsheets: UTF-8 with a BOM, a header row, CRLF, and no formulas.

Excel reads a file as UTF-8 only when it starts with a BOM; LibreOffice
accepts it too. A cell that starts with =, +, -, @, a tab or a carriage return
would be run as a formula by a spreadsheet (CSV injection): OWASP's advice is
to prefix it with a single quote, and to quote every cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

BOM = "\ufeff"
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
