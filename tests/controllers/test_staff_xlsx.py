"""GET /api/registrations.xlsx read back with openpyxl, as a spreadsheet program reads it."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta

import pytest
from openpyxl import load_workbook

from config.settings import Settings
from controllers.staff_xlsx import BATCH_ROWS
from tests.support.app_client import SettingsFactory
from tests.support.staff import Staff, row, seed

pytestmark = pytest.mark.anyio

XLSX = "/api/registrations.xlsx"
T0 = datetime(2026, 1, 15, 3, 30, 0)  # UTC: 22:30 the day before in New York


@pytest.fixture
def staff_settings(make_settings: SettingsFactory, fresh_database: str) -> Settings:
    """The school is in New York."""
    return make_settings(db_name=fresh_database, school_timezone="America/New_York")


async def test_every_value_is_kept_typed_and_sorted_by_date(staff: Staff) -> None:
    rows = [
        row("Grace Hopper", T0 + timedelta(hours=2), program="medicine"),
        row("José O'Brien", T0, email="+1@example.com", phone="0551234567", program="arts"),
        row("-Bob", T0 + timedelta(hours=1), email="=cmd@example.com", phone="+15551234567",
            program="engineering"),
        row("Old Style", T0 + timedelta(hours=3), phone=None, program=None),
    ]  # fmt: skip
    seed(staff.mysql, staff.database, rows)

    answer = await staff.get(XLSX)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert answer.headers["content-disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(answer.content)).active
    assert sheet is not None
    cells = [cell for line in sheet.iter_rows() for cell in line]
    assert all(cell.data_type != "f" for cell in cells)
    values = [[cell.value for cell in line] for line in sheet.iter_rows()]
    assert values[0] == ["Registered (America/New_York)", "Name", "Email", "Phone", "Program", "ID"]
    assert values[1:] == [
        [datetime(2026, 1, 14, 22, 30), "José O'Brien", "+1@example.com", "0551234567", "Arts",
         rows[1][0]],
        [datetime(2026, 1, 14, 23, 30), "-Bob", "=cmd@example.com", "+15551234567",
         "Engineering", rows[2][0]],
        [datetime(2026, 1, 15, 0, 30), "Grace Hopper", rows[0][2], "5551234567", "Medicine",
         rows[0][0]],
        [datetime(2026, 1, 15, 1, 30), "Old Style", rows[3][2], None, None, rows[3][0]],
    ]  # fmt: skip
    phone = sheet.cell(row=2, column=4)
    registered = sheet.cell(row=2, column=1)
    assert (phone.data_type, registered.number_format) == ("s", "yyyy-mm-dd hh:mm:ss")
    [(key_name, action, detail, row_count, _)] = staff.audit()
    assert (key_name, action, row_count) == ("test-key", "registrations.export", 4)
    assert json.loads(detail) == {"complete": True, "format": "xlsx"}


async def test_the_filters_apply_and_q_is_not_recorded(staff: Staff) -> None:
    seed(
        staff.mysql,
        staff.database,
        [
            row(
                f"Applicant {i}",
                T0 + timedelta(minutes=i),
                email=f"a{i}@example.com",
                program="arts",
            )
            for i in range(5)
        ]
        + [row("Someone Else", T0, program="business")],
    )
    answer = await staff.get(XLSX, program="arts", q="applicant 3")
    sheet = load_workbook(io.BytesIO(answer.content)).active
    assert sheet is not None
    assert [line[1] for line in sheet.iter_rows(min_row=2, values_only=True)] == ["Applicant 3"]
    detail = json.loads(staff.audit()[-1][2])
    assert detail == {"program": "arts", "q_length": 11, "complete": True, "format": "xlsx"}


async def test_more_rows_than_a_batch_come_whole_and_in_order(staff: Staff) -> None:
    many = [
        row(f"Person {i}", T0 - timedelta(seconds=i % 97, minutes=i))
        for i in range(BATCH_ROWS + 500)
    ]
    seed(staff.mysql, staff.database, many)
    answer = await staff.get(XLSX)
    sheet = load_workbook(io.BytesIO(answer.content), read_only=True).active
    assert sheet is not None
    ids = [line[5] for line in sheet.iter_rows(min_row=2, values_only=True)]
    expected = [r[0] for r in sorted(many, key=lambda r: (r[5], r[0]))]
    assert ids == expected


async def test_head_answers_the_headers_without_exporting_or_auditing(staff: Staff) -> None:
    seed(staff.mysql, staff.database, [row("Ada Lovelace", datetime(2025, 3, 1))])
    response = await staff.client.head(XLSX, headers=staff.auth)
    assert response.status_code == 200
    assert response.headers["content-disposition"].endswith('.xlsx"')
    assert response.content == b""
    assert staff.audit() == []
