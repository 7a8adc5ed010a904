"""GET /api/registrations and its filters, pages, bad input and audit rows, on the real database."""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime, timedelta

import pytest

from models.registrations import search_key
from tests.support.staff import Staff, as_json, row, seed, spaced

pytestmark = pytest.mark.anyio

LIST = "/api/registrations"
T0 = datetime(2025, 3, 1, 9, 0, 0)


async def test_rows_are_answered_in_full_newest_first(staff: Staff) -> None:
    rows = [
        row("José O'Brien", T0, email="jose@example.com", program="engineering"),
        row("Old Style", T0 + timedelta(hours=1), phone=None, program=None),
        row("Nguyễn Thị Minh Khai", T0 + timedelta(hours=2), phone="555-123-4567"),
    ]
    seed(staff.mysql, staff.database, rows)

    response = await staff.get(LIST)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "registrations": [as_json(r) for r in reversed(rows)],
        "next": None,
        "total": len(rows),
    }


async def test_each_filter_narrows_the_rows(staff: Staff) -> None:
    ada = row("Ada Lovelace", T0, email="countess@example.com", program="engineering")
    grace = row("Grace Hopper", T0 + timedelta(days=1), email="ada.fan@example.com")
    alan = row("Alan Turing", T0 + timedelta(days=2), program="engineering")
    seed(staff.mysql, staff.database, [ada, grace, alan])

    async def ids(**params: str) -> list[str]:
        response = await staff.get(LIST, **params)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["registrations"]]

    assert await ids(program="engineering") == [alan[0], ada[0]]
    assert await ids(program="medicine") == []
    assert await ids(since="2025-03-02") == [alan[0], grace[0]]
    assert await ids(until="2025-03-02") == [grace[0], ada[0]]  # a date: the whole day
    assert await ids(since="2025-03-02", until="2025-03-02") == [grace[0]]
    assert await ids(until="2025-03-03") == [alan[0], grace[0], ada[0]]
    # A time with an offset is converted to UTC; `until` includes its own instant.
    assert await ids(until="2025-03-01T10:00:00+01:00") == [ada[0]]
    assert await ids(since="2025-03-01T09:00:01Z") == [alan[0], grace[0]]
    # q: any part of the name or the email (tests/controllers/test_staff_search.py has more).
    assert await ids(q="ADA") == [grace[0], ada[0]]
    assert await ids(q="countess") == [ada[0]]
    assert await ids(q="lovelace") == [ada[0]]
    assert await ids(q="al", program="engineering", since="2025-03-02") == [alan[0]]


async def test_pages_follow_each_other_when_rows_arrive_between_calls(staff: Staff) -> None:
    # Pairs of rows share a second, so the id breaks the ties.
    rows = spaced(4, T0) + spaced(4, T0) + spaced(1, T0 + timedelta(minutes=30))
    seed(staff.mysql, staff.database, rows)
    expected = sorted(rows, key=lambda r: (r[5], r[0]), reverse=True)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        response = await staff.get(LIST, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [r["id"] for r in body["registrations"]]
        pages += 1
        # Newer registrations land while staff page through: they are not in this listing.
        seed(staff.mysql, staff.database, [row(f"Late {pages}", T0 + timedelta(hours=pages))])
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == [r[0] for r in expected]
    assert pages == 5
    # A fresh listing has them all, newest first.
    fresh = (await staff.get(LIST, limit="500")).json()["registrations"]
    assert len(fresh) == len(rows) + pages
    assert [r["name"] for r in fresh[:pages]] == [f"Late {n}" for n in range(pages, 0, -1)]


async def test_limit_defaults_to_50_and_caps_at_500(staff: Staff) -> None:
    seed(staff.mysql, staff.database, spaced(501, T0, timedelta(seconds=1)))

    first = (await staff.get(LIST)).json()
    largest = (await staff.get(LIST, limit="500")).json()
    rest = (await staff.get(LIST, limit="500", cursor=largest["next"])).json()

    assert len(first["registrations"]) == 50
    assert first["next"]
    assert len(largest["registrations"]) == 500
    assert (len(rest["registrations"]), rest["next"]) == (1, None)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit must be a whole number from 1 to 500"),
        ({"limit": "501"}, "limit must be a whole number from 1 to 500"),
        ({"limit": "ten"}, "limit must be a whole number from 1 to 500"),
        ({"limit": "-1"}, "limit must be a whole number from 1 to 500"),
        ({"limit": "²"}, "limit must be a whole number from 1 to 500"),
        ({"cursor": "not a cursor"}, "cursor is not a `next` value this service gave"),
        ({"cursor": base64.urlsafe_b64encode(b"2025-13-01T00:00:00|x").decode()},
         "cursor is not a `next` value this service gave"),
        ({"cursor": base64.urlsafe_b64encode(b"2025-01-01T00:00:00").decode()},
         "cursor is not a `next` value this service gave"),
        ({"since": "yesterday"}, "since must be an ISO 8601 date or date-time"),
        ({"until": "2025-02-30"}, "until must be an ISO 8601 date or date-time"),
        ({"since": "2025-03-02", "until": "2025-03-01"}, "since must be before until"),
        ({"q": "x" * 101}, "q must be at most 100 characters"),
        ({"program": "p" * 51}, "program must be at most 50 characters"),
        ({"programme": "arts"}, "unknown query parameter 'programme'; known: program, since,"),
    ],
)  # fmt: skip
async def test_unreadable_parameters_get_a_400_that_says_why_and_change_nothing(
    staff: Staff, params: dict[str, str], message: str
) -> None:
    seed(staff.mysql, staff.database, spaced(3, T0))

    response = await staff.get(LIST, **params)

    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert staff.audit() == []
    assert len((await staff.get(LIST)).json()["registrations"]) == 3


SQL_METACHARACTERS = [
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    '" OR ""="',
    "\\",
    "%",
    "_",
    "!",
    "`users`",
    "1; DELETE FROM users",
]


async def test_sql_metacharacters_in_every_filter_are_only_data(staff: Staff) -> None:
    literal = [
        row(f"{text}name", T0 + timedelta(minutes=i), program=text[:50])
        for i, text in enumerate(SQL_METACHARACTERS)
    ]
    seed(staff.mysql, staff.database, [*literal, *spaced(3, T0 + timedelta(days=1))])
    total = len(literal) + 3

    for text in SQL_METACHARACTERS:
        by_q = await staff.get(LIST, q=text)
        # q is searched for by its letters and digits only; without any it is a 400.
        assert by_q.status_code == (200 if search_key(text) else 400), text
        for found in by_q.json().get("registrations", []):
            assert search_key(text).lower() in search_key(found["name"]).lower(), text
        # Not a configured program: a 400 listing them, never a query.
        by_program = await staff.get(LIST, program=text)
        assert by_program.status_code == 400, text
        assert by_program.json()["error"].startswith("program must be one of: computer-science")
        for name in ("since", "until"):
            assert (await staff.get(LIST, **{name: text})).status_code == 400
        hostile_cursor = base64.urlsafe_b64encode(f"2030-01-01T00:00:00|{text}".encode()).decode()
        paged = await staff.get(LIST, cursor=hostile_cursor, limit="500")
        assert len(paged.json()["registrations"]) == total
        deleted = await staff.client.delete(f"{LIST}/{text}", headers=staff.auth)
        assert deleted.status_code in (404, 405)  # a '/' in the text is another path
    assert staff.mysql.execute("SELECT COUNT(*) FROM users", database=staff.database) == [(total,)]


async def test_every_list_writes_one_audit_row_without_the_search_text(staff: Staff) -> None:
    seed(staff.mysql, staff.database, [row("Ada Lovelace", T0), row("Grace Hopper", T0)])

    response = await staff.get(LIST, q="Ada", program="arts", since="2025-01-01", limit="10")

    [(key_name, action, detail, row_count, request_id)] = staff.audit()
    assert (key_name, action, row_count) == ("test-key", "registrations.list", 1)
    assert request_id == response.headers["x-request-id"]
    assert json.loads(detail) == {
        "program": "arts",
        "since": "2025-01-01T00:00:00Z",
        "q_length": 3,
        "cursor": False,
        "limit": 10,
    }
    assert "Ada" not in detail


@pytest.mark.parametrize("limit", ["9" * 4400, "0" * 4400, "1" + "0" * 4400])
async def test_a_limit_of_4400_digits_is_a_400_not_a_500(
    staff: Staff, caplog: pytest.LogCaptureFixture, limit: str
) -> None:
    # int() refuses over 4,300 digits with a ValueError: the length is checked first.
    response = await staff.get(LIST, limit=limit)
    assert (response.status_code, response.json()) == (
        400,
        {"error": "limit must be a whole number from 1 to 500"},
    )
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    padded = (await staff.get(LIST, limit="0" * 4400 + "2")).json()
    assert len(padded["registrations"]) <= 2


@pytest.mark.parametrize("until", ["9999-12-31", "9999-12-31T23:59:59.999999"])
async def test_until_the_last_representable_day_is_read_not_refused(
    staff: Staff, until: str
) -> None:
    # Its end is past what a datetime holds: the end of time, not a "not a date" 400.
    response = await staff.get("/api/registrations", until=until)
    assert response.status_code == 200, response.text
