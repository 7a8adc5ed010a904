"""A registration that repeats one already stored is a retry: 201 with the stored row.

Identical means: name, email, phone and program equal, code point for code point,
to the stored row after our normalisation, and stored within
REPLAY_WINDOW_SECONDS. Anything else for a stored email is still a 409.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.support.app_client import SettingsFactory, serve
from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration

pytestmark = pytest.mark.anyio

REGISTER = "/api/register"
TAKEN = {"error": "Email already exists"}


def rows(mysql: MySQLTarget, database: str, email: str) -> list[tuple[Any, ...]]:
    return mysql.execute(
        "SELECT id, name, email, phone, program FROM users WHERE email = %s",
        (email,),
        database=database,
    )


def backdate(mysql: MySQLTarget, database: str, email: str, seconds: int) -> None:
    mysql.execute(
        "UPDATE users SET created_at = created_at - INTERVAL %s SECOND WHERE email = %s",
        (seconds, email),
        database=database,
    )


async def test_an_identical_submission_gets_the_stored_row(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    body = registration()
    first = await client.post(REGISTER, json=body)
    assert first.status_code == 201
    await asyncio.sleep(1.1)  # a later second: the replay must answer the stored created_at

    again = await client.post(REGISTER, json=body)

    assert again.status_code == 201
    assert again.json() == first.json()
    assert len(rows(mysql, database, body["email"])) == 1


async def test_the_same_submission_written_differently_is_identical(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    body = registration(name="José  O'Brien", phone="(555) 123-4567")
    first = await client.post(REGISTER, json=body)
    assert first.status_code == 201
    local, _, domain = body["email"].partition("@")
    respelled = {
        "program": body["program"],
        "phone": " 555.123.4567 ",
        "email": f"{local}@{domain.upper()}",  # the domain is stored in lower case
        # "é" as e + combining acute: stored NFC, as the first one was.
        "name": " Jose\u0301 O'Brien ",
        "unknown": "ignored",
    }

    again = await client.post(REGISTER, json=respelled)

    assert again.status_code == 201
    assert again.json() == first.json()
    assert len(rows(mysql, database, body["email"])) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Grace Hopper"},
        {"name": "ada lovelace"},  # the collation ignores case; a retry does not
        {"name": "Adá Lovelace"},  # nor accents
        {"phone": "555-123-4568"},
        {"program": "arts"},
    ],
)
async def test_a_different_submission_for_a_stored_email_is_a_409(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str, change: dict[str, str]
) -> None:
    body = registration()
    first = await client.post(REGISTER, json=body)
    assert first.status_code == 201

    other = await client.post(REGISTER, json={**body, **change})

    assert (other.status_code, other.json()) == (409, TAKEN)
    assert rows(mysql, database, body["email"]) == [
        (first.json()["id"], "Ada Lovelace", body["email"], "5551234567", body["program"])
    ]


async def test_an_email_equal_only_under_the_collation_is_a_409(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    body = registration()
    assert (await client.post(REGISTER, json=body)).status_code == 201
    local, _, domain = body["email"].partition("@")

    other = await client.post(REGISTER, json={**body, "email": f"{local.upper()}@{domain}"})

    assert (other.status_code, other.json()) == (409, TAKEN)


async def test_an_identical_submission_outside_the_window_is_a_409(
    make_settings: SettingsFactory, mysql: MySQLTarget, database: str
) -> None:
    body = registration()
    async with serve(make_settings(replay_window_seconds=3600)) as client:
        assert (await client.post(REGISTER, json=body)).status_code == 201
        backdate(mysql, database, body["email"], 3590)
        inside = await client.post(REGISTER, json=body)
        backdate(mysql, database, body["email"], 20)

        outside = await client.post(REGISTER, json=body)

    assert inside.status_code == 201
    assert (outside.status_code, outside.json()) == (409, TAKEN)
    assert len(rows(mysql, database, body["email"])) == 1


async def test_a_window_of_zero_turns_replay_off(
    make_settings: SettingsFactory, mysql: MySQLTarget, database: str
) -> None:
    body = registration()
    async with serve(make_settings(replay_window_seconds=0)) as client:
        assert (await client.post(REGISTER, json=body)).status_code == 201
        again = await client.post(REGISTER, json=body)
    assert (again.status_code, again.json()) == (409, TAKEN)


async def test_concurrent_identical_submissions_all_get_the_one_row(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    body = registration()

    answers = await asyncio.gather(*(client.post(REGISTER, json=body) for _ in range(30)))

    assert {a.status_code for a in answers} == {201}
    assert len({a.text for a in answers}) == 1  # the same id and created_at for all
    [row] = rows(mysql, database, body["email"])
    assert row[0] == answers[0].json()["id"]


async def test_a_row_of_the_old_service_with_nulls_is_never_a_retry(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    body = registration()
    mysql.execute(
        "INSERT INTO users (id, name, email) VALUES (UUID(), %s, %s)",
        ("Ada Lovelace", body["email"]),
        database=database,
    )

    answer = await client.post(REGISTER, json=body)

    assert (answer.status_code, answer.json()) == (409, TAKEN)
