"""GET /api/registrations.csv: spreadsheet-ready, injection-safe, complete, audited."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from controllers.staff_export import BATCH_ROWS
from tests.support.mysql_target import MySQLTarget
from tests.support.service_process import ServiceProcess
from tests.support.staff import Staff, make_key, row, seed, spaced

pytestmark = pytest.mark.anyio

EXPORT = "/api/registrations.csv"
T0 = datetime(2025, 3, 1, 9, 0, 0)
HEADER = ["id", "name", "email", "phone", "program", "created_at_utc"]


def parse(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf"), body[:10]
    text = body.decode("utf-8-sig")
    assert "\n" not in text.replace("\r\n", ""), "every line ends with CRLF"
    return list(csv.reader(io.StringIO(text, newline="")))


async def test_the_file_is_utf8_with_bom_a_header_crlf_and_every_value(staff: Staff) -> None:
    jose = row("José O'Brien", T0, email="jose@example.com", program="engineering")
    old = row('Old "Style", Esq', T0 + timedelta(hours=1), phone=None, program=None)
    seed(staff.mysql, staff.database, [jose, old])

    response = await staff.get(EXPORT)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="registrations-'
    )
    assert response.content.startswith(b'\xef\xbb\xbf"id","name",')
    assert sorted(parse(response.content)[1:]) == sorted([
        [old[0], 'Old "Style", Esq', old[2], "", "", "2025-03-01 10:00:00"],
        [jose[0], "José O'Brien", "jose@example.com", "5551234567", "engineering",
         "2025-03-01 09:00:00"],
    ])  # fmt: skip
    assert parse(response.content)[0] == HEADER


async def test_cells_a_spreadsheet_would_run_as_formulas_are_neutralised(staff: Staff) -> None:
    hostile = ["=1+2", "+SUM(A1:A9)", "-2+3", "@cmd", "\t=1", "\r=1", '=HYPERLINK("x")']
    rows = [
        row(text, T0 + timedelta(minutes=i), email=f"{text.strip()}{i}@example.com", program=text)
        for i, text in enumerate(hostile)
    ]
    rows.append(row("Jean-Luc =Picard", T0 - timedelta(days=1), email="jean-luc@example.com"))
    seed(staff.mysql, staff.database, rows)

    by_id = {cells[0]: cells for cells in parse((await staff.get(EXPORT)).content)[1:]}

    for i, text in enumerate(hostile):
        _, name, email, _, program, _ = by_id[rows[i][0]]
        assert name == "'" + text
        assert program == "'" + text
        assert email == f"'{text.strip()}{i}@example.com"
    # Only a cell's first character matters.
    assert by_id[rows[-1][0]][1:3] == ["Jean-Luc =Picard", "jean-luc@example.com"]


async def test_an_export_larger_than_a_batch_is_complete_in_id_order_and_audited(
    staff: Staff,
) -> None:
    count = 2 * BATCH_ROWS + 345
    rows = spaced(count, T0, timedelta(seconds=1))
    seed(staff.mysql, staff.database, rows)
    seed(staff.mysql, staff.database, [row("Other", T0, program="medicine")])

    response = await staff.get(EXPORT, program="arts")

    ids = [cells[0] for cells in parse(response.content)[1:]]
    assert ids == sorted(r[0] for r in rows)
    [(key_name, action, detail, row_count, request_id)] = staff.audit()
    assert (key_name, action, row_count) == ("test-key", "registrations.export", len(rows))
    assert json.loads(detail) == {"program": "arts", "complete": True}
    assert request_id == response.headers["x-request-id"]


async def test_an_empty_export_is_the_header_alone(staff: Staff) -> None:
    response = await staff.get(EXPORT, q="nobody")
    assert (
        response.content
        == b'\xef\xbb\xbf"id","name","email","phone","program","created_at_utc"\r\n'
    )


def test_an_export_the_client_abandons_is_audited_as_incomplete(
    mysql: MySQLTarget, fresh_database: str, tmp_path: Path
) -> None:
    with ServiceProcess(mysql.environment(fresh_database), tmp_path / "service.log") as service:
        seed(mysql, fresh_database, spaced(20 * BATCH_ROWS, T0, timedelta(seconds=1)))
        key = make_key(mysql, fresh_database, "abandoning-key")
        with (
            httpx.Client(base_url=service.base_url) as http,
            http.stream("GET", EXPORT, headers={"Authorization": f"Bearer {key}"}) as answer,
        ):
            assert answer.status_code == 200
            next(answer.iter_bytes())  # the first chunk, then the client goes away
        deadline = time.monotonic() + 10
        audit: list[tuple[object, ...]] = []
        while not audit and time.monotonic() < deadline:
            audit = mysql.execute(
                "SELECT detail, row_count FROM staff_audit", database=fresh_database
            )
            time.sleep(0.05)
    [(detail, row_count)] = audit
    assert json.loads(str(detail)) == {"complete": False}
    assert isinstance(row_count, int)
    assert row_count < 20 * BATCH_ROWS


async def test_head_answers_the_headers_without_exporting_or_auditing(staff: Staff) -> None:
    seed(staff.mysql, staff.database, spaced(3, datetime(2025, 3, 1)))
    response = await staff.client.head(EXPORT, headers=staff.auth)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert response.content == b""
    assert staff.audit() == []
    refused = await staff.client.head(EXPORT)
    assert refused.status_code == 401
