"""The list's `q`, `program`, `since`/`until` and `total` as the console uses them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.support.staff import Staff, row, seed

pytestmark = pytest.mark.anyio

LIST = "/api/registrations"
T0 = datetime(2025, 3, 1, 9, 0, 0)


async def test_q_finds_any_part_of_name_email_or_phone_ignoring_case_accents_punctuation(
    staff: Staff,
) -> None:
    jose = row("José O'Brien", T0, email="jose.obrien@example.com", phone="0551234567")
    grace = row("Grace Hopper", T0 + timedelta(minutes=1), phone="5559876543")
    legacy = row("Zoë Smith-Jones", T0 + timedelta(minutes=2), phone=None, program=None)
    seed(staff.mysql, staff.database, [jose, grace, legacy])

    async def names(q: str) -> list[str]:
        answer = await staff.get(LIST, q=q)
        assert answer.status_code == 200, answer.text
        return [r["name"] for r in answer.json()["registrations"]]

    for q in ("brien", "obrien", "O'Brien", "o brien", "JOSE", "josé", "4567", "055-123",
              "(055) 123 4567", "obrien@example", "Jose O’Brien"):  # fmt: skip
        assert await names(q) == ["José O'Brien"], q
    assert await names("zoe") == ["Zoë Smith-Jones"]
    assert await names("smithjones") == ["Zoë Smith-Jones"]
    assert await names("hopper5559") == []  # never across two fields
    assert await names("example") == ["Zoë Smith-Jones", "Grace Hopper", "José O'Brien"]
    bad = await staff.get(LIST, q="'-.")
    assert (bad.status_code, bad.json()) == (400, {"error": "q must contain a letter or a digit"})


async def test_total_counts_every_match_not_the_page(staff: Staff) -> None:
    rows = [row(f"Applicant {i}", T0 + timedelta(minutes=i), program="arts") for i in range(7)]
    rows.append(row("Other Person", T0, program="medicine"))
    seed(staff.mysql, staff.database, rows)

    first = (await staff.get(LIST, limit="3", program="arts")).json()
    second = (await staff.get(LIST, limit="3", program="arts", cursor=first["next"])).json()

    assert (len(first["registrations"]), first["total"]) == (3, 7)
    assert second["total"] == 7
    assert (await staff.get(LIST, q="other")).json()["total"] == 1
    assert (await staff.get(LIST, q="nobody")).json() == {"registrations": [], "next": None,
                                                          "total": 0}  # fmt: skip


async def test_an_unknown_program_is_a_400_listing_the_valid_ones(staff: Staff) -> None:
    seed(staff.mysql, staff.database, [row("Ada Lovelace", T0, program="computer-science")])
    for path in (LIST, f"{LIST}.csv", f"{LIST}.xlsx", f"{LIST}/stats"):
        answer = await staff.get(path, program="Computer Science")
        assert answer.status_code == 400, path
        assert answer.json() == {
            "error": "program must be one of: computer-science, engineering, business, arts,"
            " medicine"
        }
    assert (await staff.get(LIST, program="computer-science")).json()["total"] == 1


async def test_since_and_until_with_an_offset_are_converted_to_utc(staff: Staff) -> None:
    # 2026-12-01 in New York (-05:00) starts at 05:00 UTC.
    early, late = (
        row("Early Bird", datetime(2026, 12, 1, 4, 59)),
        row("Late", datetime(2026, 12, 1, 5)),
    )
    seed(staff.mysql, staff.database, [early, late])

    since = (await staff.get(LIST, since="2026-12-01T00:00:00-05:00")).json()
    until = (await staff.get(LIST, until="2026-11-30T23:59:59.999-05:00")).json()
    # A '+' sent unencoded arrives as a space; it is read as the offset it was.
    plus = await staff.client.get(f"{LIST}?since=2026-12-01T06:00:00+01:00", headers=staff.auth)

    assert [r["name"] for r in since["registrations"]] == ["Late"]
    assert [r["name"] for r in until["registrations"]] == ["Early Bird"]
    assert [r["name"] for r in plus.json()["registrations"]] == ["Late"]
    bad = await staff.get(LIST, since="2026-12-01T00:00:00-25:00")
    assert bad.status_code == 400
