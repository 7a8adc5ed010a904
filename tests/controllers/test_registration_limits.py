"""The rate limits on POST /api/register: per client address, and per email on mismatches."""

from __future__ import annotations

import pytest

from config.settings import Settings
from tests.support.app_client import SettingsFactory, serve
from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration

pytestmark = pytest.mark.anyio

REGISTER = "/api/register"
TOO_MANY = {"error": "Too many requests, please try again later"}
TAKEN = {"error": "Email already exists"}


async def test_guessing_a_registered_applicants_phone_gets_429_after_the_limit(
    make_settings: SettingsFactory,
) -> None:
    victim = registration(phone="555-867-5309")
    async with serve(make_settings(rate_limit_mismatch="5/hour")) as client:
        assert (await client.post(REGISTER, json=victim)).status_code == 201
        wrong = [
            await client.post(REGISTER, json={**victim, "phone": f"555-000-000{n}"})
            for n in range(5)
        ]
        # Spent: the right guess, even in capitals (the same row), confirms nothing.
        right = await client.post(REGISTER, json=victim)
        local, _, domain = victim["email"].partition("@")
        shouted = await client.post(REGISTER, json={**victim, "email": f"{local.upper()}@{domain}"})
        other = await client.post(REGISTER, json=registration())

    assert [(a.status_code, a.json()) for a in wrong] == [(409, TAKEN)] * 5
    assert (right.status_code, right.json()) == (429, TOO_MANY)
    assert 3500 < int(right.headers["Retry-After"]) <= 3600
    assert (shouted.status_code, shouted.json()) == (429, TOO_MANY)
    assert other.status_code == 201  # another address's budget is its own


async def test_the_right_guess_is_a_retry_only_within_the_replay_window(
    make_settings: SettingsFactory, mysql: MySQLTarget, database: str
) -> None:
    body = registration()
    async with serve(make_settings()) as client:
        assert (await client.post(REGISTER, json=body)).status_code == 201
        mysql.execute(
            "UPDATE users SET created_at = created_at - INTERVAL 601 SECOND WHERE email = %s",
            (body["email"],),
            database=database,
        )
        later = await client.post(REGISTER, json=body)
    assert (later.status_code, later.json()) == (409, TAKEN)


async def test_over_the_address_limit_nothing_is_stored(
    make_settings: SettingsFactory, mysql: MySQLTarget, database: str
) -> None:
    bodies = [registration() for _ in range(3)]
    async with serve(make_settings(rate_limit_register="2/minute")) as client:
        answers = [await client.post(REGISTER, json=b) for b in bodies]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].json() == TOO_MANY
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
    rows = mysql.execute(
        "SELECT COUNT(*) FROM users WHERE email = %s", (bodies[2]["email"],), database=database
    )
    assert rows[0][0] == 0


async def test_off_turns_both_limits_off(make_settings: SettingsFactory) -> None:
    victim = registration()
    async with serve(make_settings()) as client:  # the tests' settings: both off
        assert (await client.post(REGISTER, json=victim)).status_code == 201
        answers = [
            await client.post(REGISTER, json={**victim, "phone": f"555-000-00{n:02}"})
            for n in range(30)
        ]
    assert {a.status_code for a in answers} == {409}


def test_the_limits_default_as_the_contract_says() -> None:
    defaults = Settings()
    assert (defaults.rate_limit_register, defaults.rate_limit_mismatch) == ("20/minute", "5/hour")
    assert defaults.replay_window_seconds == 600
    assert defaults.trusted_proxies == ()
