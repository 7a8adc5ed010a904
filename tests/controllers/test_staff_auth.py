"""Staff keys on the wire: 401s, revocation at once in every task, own CORS, no key in logs."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from config.settings import Settings
from tests.support.app_client import CORS_ORIGIN, SettingsFactory, serve
from tests.support.cli import run_cli
from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration
from tests.support.service_process import ServiceProcess
from tests.support.staff import Staff, make_key, staff_app

pytestmark = pytest.mark.anyio

STAFF_ORIGIN = "https://admissions.example.edu"
CHALLENGE = 'Bearer realm="schoolapp staff"'
STAFF_ROUTES = [
    ("GET", "/api/registrations"),
    ("GET", "/api/registrations.csv"),
    ("GET", "/api/registrations.xlsx"),
    ("GET", "/api/staff/key"),
    ("GET", "/api/registrations/stats"),
    ("DELETE", "/api/registrations/0b6f3f3e-8d0a-4f5e-9a53-1f2d3c4b5a69"),
    ("GET", "/api/audit"),
]


@pytest.fixture
def staff_settings(make_settings: SettingsFactory, fresh_database: str) -> Settings:
    """The shared `staff` fixture's settings, with a staff origin for the CORS tests."""
    return make_settings(db_name=fresh_database, staff_cors_origins=(STAFF_ORIGIN,))


@pytest.mark.parametrize(("method", "path"), STAFF_ROUTES)
async def test_every_staff_route_refuses_a_request_without_a_valid_key(
    staff: Staff, method: str, path: str
) -> None:
    unknown = "schoolapp_staff_" + "A" * 43
    cases = [
        ({}, "A staff key is required", CHALLENGE),
        ({"Authorization": f"Basic {staff.key}"}, "Authorization must be 'Bearer <staff key>'",
         CHALLENGE + ', error="invalid_token"'),
        ({"Authorization": "Bearer "}, "Authorization must be 'Bearer <staff key>'",
         CHALLENGE + ', error="invalid_token"'),
        ({"Authorization": f"Bearer {unknown}"}, "Invalid staff key",
         CHALLENGE + ', error="invalid_token"'),
        ({"Authorization": f"Bearer {staff.key}x"}, "Invalid staff key",
         CHALLENGE + ', error="invalid_token"'),
    ]  # fmt: skip
    for headers, message, challenge in cases:
        response = await staff.client.request(method, path, headers=headers)
        assert response.status_code == 401, headers
        assert response.json() == {"error": message}
        assert response.headers["www-authenticate"] == challenge
        assert staff.key not in response.text
    # Each bearer key presented is audited (by a prefix of its hash, never the key);
    # a missing or malformed header is not an attempt with a key.
    refused = [
        (name, action, json.loads(detail)["reason"]) for name, action, detail, *_ in staff.audit()
    ]
    assert refused == [("-", "staff_key.refused", "unknown")] * 2
    assert not any(staff.key in str(row) for row in staff.audit())
    # The scheme is case-insensitive, as HTTP's are.
    accepted = await staff.client.request(
        method, path, headers={"Authorization": f"bearer {staff.key}"}
    )
    assert accepted.status_code in (200, 404)


async def test_a_revoked_key_is_refused_at_once_by_every_task(
    staff: Staff, make_settings: SettingsFactory
) -> None:
    other_task = make_settings(db_name=staff.database)
    async with serve(other_task) as second:
        for client in (staff.client, second):
            answer = await client.get("/api/registrations", headers=staff.auth)
            assert answer.status_code == 200

        revoked = run_cli(["keys", "revoke", "test-key"], staff.mysql.environment(staff.database))
        assert revoked.returncode == 0, revoked.stderr

        for client in (staff.client, second):
            answer = await client.get("/api/registrations", headers=staff.auth)
            assert (answer.status_code, answer.json()) == (401, {"error": "Staff key revoked"})
    [(last_used,)] = staff.mysql.execute(
        "SELECT last_used_at FROM staff_keys WHERE name = 'test-key'", database=staff.database
    )
    assert last_used is not None


async def test_staff_paths_get_cors_only_from_staff_cors_origins(staff: Staff) -> None:
    client = staff.client
    public = await client.get("/api/registrations", headers={**staff.auth, "Origin": CORS_ORIGIN})
    allowed = await client.get("/api/registrations", headers={**staff.auth, "Origin": STAFF_ORIGIN})
    preflight = await client.options(
        "/api/registrations.csv",
        headers={
            "Origin": STAFF_ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    public_preflight = await client.options(
        "/api/registrations",
        headers={"Origin": CORS_ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    staff_origin_on_the_form = await client.post(
        "/api/register", json=registration(), headers={"Origin": STAFF_ORIGIN}
    )
    form = await client.post("/api/register", json=registration(), headers={"Origin": CORS_ORIGIN})

    assert public.status_code == 200
    assert "access-control-allow-origin" not in public.headers
    assert allowed.headers["access-control-allow-origin"] == STAFF_ORIGIN
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == STAFF_ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in public_preflight.headers
    assert "access-control-allow-origin" not in staff_origin_on_the_form.headers
    assert form.headers["access-control-allow-origin"] == CORS_ORIGIN


async def test_without_staff_cors_origins_staff_paths_get_no_cors(
    mysql: MySQLTarget, fresh_database: str, make_settings: SettingsFactory
) -> None:
    async for staff in staff_app(make_settings(db_name=fresh_database), mysql, fresh_database):
        answer = await staff.client.get(
            "/api/registrations", headers={**staff.auth, "Origin": CORS_ORIGIN}
        )
        assert answer.status_code == 200
        assert not [h for h in answer.headers if h.startswith("access-control-")]


def test_no_key_reaches_the_log(mysql: MySQLTarget, fresh_database: str, tmp_path: Path) -> None:
    environment = {**mysql.environment(fresh_database), "LOG_LEVEL": "debug"}
    with ServiceProcess(environment, tmp_path / "service.log") as service:
        key = make_key(mysql, fresh_database, "logged-key")
        wrong = "schoolapp_staff_" + "B" * 43
        with httpx.Client(base_url=service.base_url) as http:
            for presented in (key, wrong, key + "tail", "not-even-a-key"):
                http.get("/api/registrations", headers={"Authorization": f"Bearer {presented}"})
                http.get("/api/registrations.csv", headers={"Authorization": f"Bearer {presented}"})
            run_cli(["keys", "revoke", "logged-key"], mysql.environment(fresh_database))
            revoked = http.get("/api/registrations", headers={"Authorization": f"Bearer {key}"})
        assert revoked.status_code == 401
    log = service.log()
    assert "logged-key" in log  # the access lines name the key...
    for secret in (key, wrong, key.removeprefix("schoolapp_staff_"), "not-even-a-key"):
        assert secret not in log  # ...never the key itself
