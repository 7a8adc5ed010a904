"""The Idempotency-Key header: same key and submission replays, another submission is 422."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from typing import Any

import httpx
import orjson
import pytest

from controllers.registration import KEY_PATTERN
from tests.support.app_client import CORS_ORIGIN, SettingsFactory, serve
from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration

pytestmark = pytest.mark.anyio

REGISTER = "/api/register"
REUSED = {"error": "Idempotency-Key was already used with a different request body"}
MALFORMED = (
    "Idempotency-Key must be one string of printable ASCII characters, "
    'e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324"'
)


def new_key() -> str:
    return f'"{uuid.uuid4()}"'


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def users(mysql: MySQLTarget, database: str, email: str) -> list[tuple[Any, ...]]:
    return mysql.execute("SELECT id FROM users WHERE email = %s", (email,), database=database)


def key_rows(mysql: MySQLTarget, database: str, key: str) -> list[tuple[Any, ...]]:
    return mysql.execute(
        "SELECT user_id, created_at FROM idempotency_keys WHERE idempotency_key = %s",
        (key,),
        database=database,
    )


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def stored_fingerprint(body: dict[str, str]) -> str:
    """What the service stores for `body`, already in its normalised form."""
    fields = [body["name"], body["email"], body["phone"], body["program"]]
    return hashlib.sha256(orjson.dumps(fields)).hexdigest()


async def test_the_same_key_and_submission_replay_the_first_answer(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    key, body = new_key(), registration()
    first = await client.post(REGISTER, json=body, headers=keyed(key))
    assert first.status_code == 201

    again = await client.post(REGISTER, json=body, headers=keyed(key))

    assert again.status_code == 201
    assert again.json() == first.json()
    assert users(mysql, database, body["email"]) == [(first.json()["id"],)]
    assert [row[0] for row in key_rows(mysql, database, key.strip('"'))] == [first.json()["id"]]


async def test_the_fingerprint_is_of_the_normalised_submission(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    key, body = new_key(), registration(phone="(555) 123-4567")
    first = await client.post(REGISTER, json=body, headers=keyed(key))
    # Other key order, other separators, an unknown key: the same submission.
    rewritten = {
        "extra": 1,
        "program": body["program"],
        "phone": "555.123.4567",
        "email": body["email"],
        "name": f"  {body['name']} ",
    }

    again = await client.post(REGISTER, json=rewritten, headers=keyed(key))

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()


async def test_the_same_key_with_another_submission_is_a_422_and_stores_nothing(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    key, body = new_key(), registration()
    assert (await client.post(REGISTER, json=body, headers=keyed(key))).status_code == 201
    other = registration()

    answer = await client.post(REGISTER, json=other, headers=keyed(key))

    assert (answer.status_code, answer.json()) == (422, REUSED)
    assert users(mysql, database, other["email"]) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", MALFORMED),
        ('""', MALFORMED),
        ("two words", MALFORMED),
        ('"unterminated', MALFORMED),
        ("a,b", MALFORMED),
        ("clé".encode(), MALFORMED),
        ("k" * 256, "Idempotency-Key must be at most 255 characters"),
        ('"' + "k" * 256 + '"', "Idempotency-Key must be at most 255 characters"),
    ],
)
async def test_a_malformed_or_over_long_key_is_a_400_and_stores_nothing(
    client: httpx.AsyncClient,
    mysql: MySQLTarget,
    database: str,
    value: str | bytes,
    message: str,
) -> None:
    body = registration()

    answer = await client.post(
        REGISTER,
        content=orjson.dumps(body),
        headers=[(b"Content-Type", b"application/json"), (b"Idempotency-Key", _bytes(value))],
    )

    assert (answer.status_code, answer.json()) == (400, {"error": message})
    assert users(mysql, database, body["email"]) == []


async def test_two_key_headers_are_a_400(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        REGISTER,
        content=orjson.dumps(registration()),
        headers=[
            ("Content-Type", "application/json"),
            ("Idempotency-Key", '"a"'),
            ("Idempotency-Key", '"b"'),
        ],
    )
    assert (answer.status_code, answer.json()) == (400, {"error": MALFORMED})


async def test_a_bare_key_is_the_same_key_as_its_quoted_form(client: httpx.AsyncClient) -> None:
    key, body = str(uuid.uuid4()), registration()
    first = await client.post(REGISTER, json=body, headers=keyed(f'"{key}"'))
    other = await client.post(REGISTER, json=registration(), headers=keyed(key))
    assert (first.status_code, other.status_code) == (201, 422)


async def test_a_key_whose_first_request_stored_nothing_stores_under_the_id_it_names(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    # As a first request leaves it when its INSERT was cut off after the key went
    # in: the key names an id that is not (or not yet) stored.
    key, body, earlier_id = str(uuid.uuid4()), registration(), str(uuid.uuid4())
    normalised = {**body, "phone": "5551234567"}
    mysql.execute(
        "INSERT INTO idempotency_keys (idempotency_key, fingerprint, user_id, created_at)"
        " VALUES (%s, %s, %s, UTC_TIMESTAMP())",
        (key, stored_fingerprint(normalised), earlier_id),
        database=database,
    )

    answer = await client.post(REGISTER, json=body, headers=keyed(key))

    assert answer.status_code == 201
    assert answer.json()["id"] == earlier_id
    assert users(mysql, database, body["email"]) == [(earlier_id,)]


async def test_an_expired_key_is_a_new_key(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    key, body = new_key(), registration()
    assert (await client.post(REGISTER, json=body, headers=keyed(key))).status_code == 201
    mysql.execute(
        "UPDATE idempotency_keys SET created_at = created_at - INTERVAL 2 DAY"
        " WHERE idempotency_key = %s",
        (key.strip('"'),),
        database=database,
    )
    other = registration()

    answer = await client.post(REGISTER, json=other, headers=keyed(key))

    assert answer.status_code == 201
    assert users(mysql, database, other["email"]) == [(answer.json()["id"],)]
    assert [row[0] for row in key_rows(mysql, database, key.strip('"'))] == [answer.json()["id"]]


async def test_expired_keys_are_swept_by_a_keyed_registration(
    make_settings: SettingsFactory, mysql: MySQLTarget, database: str
) -> None:
    old, recent = f"old-{uuid.uuid4()}", f"recent-{uuid.uuid4()}"
    # Keys last 24 hours, whatever the content replay's window.
    for key, age in ((old, 86_500), (recent, 86_300)):
        mysql.execute(
            "INSERT INTO idempotency_keys (idempotency_key, fingerprint, user_id, created_at)"
            " VALUES (%s, REPEAT('0', 64), UUID(), UTC_TIMESTAMP() - INTERVAL %s SECOND)",
            (key, age),
            database=database,
        )
    async with serve(make_settings(replay_window_seconds=3600)) as client:
        assert (await client.post(REGISTER, json=registration())).status_code == 201
        assert key_rows(mysql, database, old) != []  # no key, no sweep: the common path
        keyed_answer = await client.post(REGISTER, json=registration(), headers=keyed(new_key()))
    assert keyed_answer.status_code == 201
    assert key_rows(mysql, database, old) == []
    assert key_rows(mysql, database, recent) != []


async def test_concurrent_requests_with_one_key_and_submission_get_the_one_row(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    key, body = new_key(), registration()

    answers = await asyncio.gather(
        *(client.post(REGISTER, json=body, headers=keyed(key)) for _ in range(20))
    )

    assert {a.status_code for a in answers} == {201}
    assert len({a.text for a in answers}) == 1
    assert users(mysql, database, body["email"]) == [(answers[0].json()["id"],)]


async def test_without_the_header_no_key_is_stored(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    before = mysql.execute("SELECT COUNT(*) FROM idempotency_keys", database=database)
    assert (await client.post(REGISTER, json=registration())).status_code == 201
    assert mysql.execute("SELECT COUNT(*) FROM idempotency_keys", database=database) == before


async def test_a_window_of_zero_keeps_no_key(
    make_settings: SettingsFactory, mysql: MySQLTarget, database: str
) -> None:
    key = new_key()
    async with serve(make_settings(replay_window_seconds=0)) as client:
        first = await client.post(REGISTER, json=registration(), headers=keyed(key))
        other = await client.post(REGISTER, json=registration(), headers=keyed(key))
        malformed = await client.post(REGISTER, json=registration(), headers=keyed("a b"))
    assert (first.status_code, other.status_code, malformed.status_code) == (201, 201, 400)
    assert key_rows(mysql, database, key.strip('"')) == []


async def test_a_sweep_that_finds_a_full_batch_goes_on_at_the_next_keyed_registration(
    make_settings: SettingsFactory, mysql: MySQLTarget, fresh_database: str
) -> None:
    def backlog() -> int:
        rows = mysql.execute("SELECT COUNT(*) FROM idempotency_keys", database=fresh_database)
        return int(rows[0][0])

    left = []
    async with serve(make_settings(db_name=fresh_database)) as client:
        assert (await client.post(REGISTER, json=registration())).status_code == 201
        mysql.execute(
            "INSERT INTO idempotency_keys (idempotency_key, fingerprint, user_id, created_at)"
            " VALUES "
            + ", ".join(["(%s, REPEAT('0', 64), UUID(), UTC_TIMESTAMP() - INTERVAL 2 DAY)"] * 1005),
            tuple(f"expired-{n}" for n in range(1005)),
            database=fresh_database,
        )
        for _ in range(3):
            answer = await client.post(REGISTER, json=registration(), headers=keyed(new_key()))
            assert answer.status_code == 201
            left.append(backlog())
    # Each keyed registration adds its own key: 1005 - 1000 + 1, then the 5 go.
    assert left == [6, 2, 3]


async def test_the_form_may_send_the_header_cross_origin(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        REGISTER,
        headers={
            "Origin": CORS_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, idempotency-key",
        },
    )
    assert preflight.status_code == 204
    assert "idempotency-key" in preflight.headers["access-control-allow-headers"].lower()


async def test_a_key_spent_on_a_409_is_not_squatted(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    taken = registration()
    assert (await client.post(REGISTER, json=taken)).status_code == 201
    key = new_key()
    # An attacker spends the key a client will use on a submission that is refused.
    squat = await client.post(REGISTER, json={**taken, "phone": "555-000-0000"}, headers=keyed(key))
    assert squat.status_code == 409
    assert key_rows(mysql, database, key.strip('"')) == []

    legitimate = registration()
    answer = await client.post(REGISTER, json=legitimate, headers=keyed(key))

    assert answer.status_code == 201, answer.text
    assert [row[0] for row in key_rows(mysql, database, key.strip('"'))] == [answer.json()["id"]]


async def test_refused_keyed_requests_add_no_rows(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    taken = registration()
    assert (await client.post(REGISTER, json=taken)).status_code == 201
    before = mysql.execute("SELECT COUNT(*) FROM idempotency_keys", database=database)
    for _ in range(20):
        answer = await client.post(
            REGISTER, json={**taken, "name": "Someone Else"}, headers=keyed(new_key())
        )
        assert answer.status_code == 409
    assert mysql.execute("SELECT COUNT(*) FROM idempotency_keys", database=database) == before


@pytest.mark.parametrize("spaced", ['"k1 "', '" k1"', '"k1  "'])
async def test_a_key_with_a_space_at_either_end_is_refused_not_taken_for_another(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str, spaced: str
) -> None:
    # The key column's collation ignores trailing spaces: "k1 " would be k1's key.
    bare = f"k1-{uuid.uuid4().hex}"
    key = spaced.replace("k1", bare)
    first = await client.post(REGISTER, json=registration(), headers=keyed(f'"{bare}"'))
    assert first.status_code == 201
    other = await client.post(REGISTER, json=(body := registration()), headers=keyed(key))
    assert other.status_code == 400
    assert other.json() == {"error": "Idempotency-Key must not begin or end with a space"}
    assert users(mysql, database, body["email"]) == []
    assert re.fullmatch(KEY_PATTERN, key) is None
    assert re.fullmatch(KEY_PATTERN, f'"{bare}"') is not None
