"""Keys with roles and expiry on the wire: GET /api/staff/key, 403 for a viewer, 401 expired,
no-store on every staff answer, the key on the access line, refused keys audited."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest

from controllers.error_responses import FORBIDDEN
from tests.support.staff import Staff, make_key, row, seed

pytestmark = pytest.mark.anyio

ERASE = "/api/registrations/{}"
T0 = datetime(2025, 3, 1, 9, 0, 0)


def access_lines(output: str) -> list[dict[str, object]]:
    """The access lines among the captured stdout."""
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "schoolapp.access"]


def expire(staff: Staff, name: str) -> None:
    staff.mysql.execute(
        "UPDATE staff_keys SET expires_at = UTC_TIMESTAMP() - INTERVAL 1 SECOND WHERE name = %s",
        (name,),
        database=staff.database,
    )


async def test_the_key_tells_its_name_role_and_expiry(staff: Staff) -> None:
    viewer = make_key(staff.mysql, staff.database, "jane", role="viewer")
    staff.mysql.execute(
        "UPDATE staff_keys SET expires_at = '2031-05-01 12:00:00' WHERE name = 'jane'",
        database=staff.database,
    )
    mine = await staff.get("/api/staff/key")
    theirs = await staff.client.get("/api/staff/key", headers={"Authorization": f"Bearer {viewer}"})
    assert mine.json() == {"name": "test-key", "role": "admin", "expires_at": None}
    assert theirs.json() == {"name": "jane", "role": "viewer", "expires_at": "2031-05-01T12:00:00Z"}


async def test_a_viewer_reads_but_may_not_erase_or_read_the_audit_trail(staff: Staff) -> None:
    ada = row("Ada Lovelace", T0)
    seed(staff.mysql, staff.database, [ada])
    viewer = {"Authorization": f"Bearer {make_key(staff.mysql, staff.database, 'jo', 'viewer')}"}
    for path in ("/api/registrations", "/api/registrations/stats", "/api/registrations.csv",
                 "/api/registrations.xlsx"):  # fmt: skip
        assert (await staff.client.get(path, headers=viewer)).status_code == 200, path

    erase = await staff.client.delete(ERASE.format(ada[0]), headers=viewer)
    trail = await staff.client.get("/api/audit", headers=viewer)

    for refused in (erase, trail):
        assert (refused.status_code, refused.json()) == (403, {"error": FORBIDDEN})
    assert FORBIDDEN == "This staff key may not do that"
    assert staff.mysql.execute("SELECT id FROM users", database=staff.database) == [(ada[0],)]
    refusals = [json.loads(d) for n, a, d, *_ in staff.audit() if a == "staff_key.refused"]
    assert [r["reason"] for r in refusals] == ["forbidden"]  # the second within the minute
    # The admin's key may do both.
    assert (await staff.client.delete(ERASE.format(ada[0]), headers=staff.auth)).status_code == 204
    assert (await staff.get("/api/audit")).status_code == 200


async def test_an_expired_key_is_refused_and_audited(staff: Staff) -> None:
    assert (await staff.get("/api/registrations")).status_code == 200
    expire(staff, "test-key")

    answer = await staff.get("/api/registrations")

    assert (answer.status_code, answer.json()) == (401, {"error": "Staff key expired"})
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    [(name, _, detail, _, _)] = [r for r in staff.audit() if r[1] == "staff_key.refused"]
    assert name == "test-key"
    assert json.loads(detail)["reason"] == "expired"


async def test_every_staff_answer_is_no_store(staff: Staff) -> None:
    answers = [
        await staff.get("/api/registrations"),
        await staff.get("/api/registrations", program="nope"),
        await staff.get("/api/staff/key"),
        await staff.get("/api/registrations.xlsx"),
        await staff.get("/api/audit"),
        await staff.client.get("/api/registrations"),  # 401
        await staff.client.delete(ERASE.format(uuid.uuid4()), headers=staff.auth),  # 404
        await staff.client.get("/staff"),
        await staff.client.get("/staff/console.js"),
    ]
    assert [a.headers.get("cache-control") for a in answers] == ["no-store"] * len(answers)
    assert "cache-control" not in (await staff.client.get("/api/programs")).headers


async def test_the_access_line_names_the_key_never_the_key_itself(
    staff: Staff, capsys: pytest.CaptureFixture[str]
) -> None:
    revoked = make_key(staff.mysql, staff.database, "gone")
    staff.mysql.execute(
        "UPDATE staff_keys SET revoked_at = UTC_TIMESTAMP() WHERE name = 'gone'",
        database=staff.database,
    )
    unknown = "schoolapp_staff_" + "C" * 43
    capsys.readouterr()
    await staff.get("/api/registrations")
    for key in (revoked, unknown):
        await staff.client.get("/api/registrations", headers={"Authorization": f"Bearer {key}"})

    output = capsys.readouterr().out
    ok, gone, stranger = access_lines(output)
    [(gone_id,)] = staff.mysql.execute(
        "SELECT id FROM staff_keys WHERE name = 'gone'", database=staff.database
    )
    assert (ok["status"], ok["staff_key"]) == (200, "test-key")
    assert (gone["status"], gone["staff_key"], gone["staff_key_id"]) == (401, "gone", gone_id)
    assert gone["staff_refused"] == "revoked"
    assert (stranger["staff_refused"], len(str(stranger["staff_key_hash"]))) == ("unknown", 12)
    assert "staff_key" not in stranger
    for key in (staff.key, revoked, unknown):
        assert key.removeprefix("schoolapp_staff_") not in output


async def test_a_flood_of_bad_keys_writes_a_bounded_number_of_audit_rows(staff: Staff) -> None:
    same = {"Authorization": "Bearer schoolapp_staff_" + "D" * 43}
    for _ in range(20):
        assert (await staff.client.get("/api/registrations", headers=same)).status_code == 401
    assert len(staff.audit()) == 1  # one row a key a minute

    for i in range(80):
        bad = {"Authorization": f"Bearer schoolapp_staff_{i:043d}"}
        assert (await staff.client.get("/api/registrations", headers=bad)).status_code == 401
    # A flood of distinct keys: the burst of 30 rows (one spent above), then none.
    assert len(staff.audit()) == 30
