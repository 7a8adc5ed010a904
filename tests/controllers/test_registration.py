"""POST /api/register against the real database, through the whole app."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from starlette.types import Message

from config.settings import Settings
from index import create_app
from tests.support.app_client import SettingsFactory, serve
from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration, unique_email

pytestmark = pytest.mark.anyio

REGISTER = "/api/register"
PROGRAM_MESSAGE = (
    "Invalid program. Must be one of: computer-science, engineering, business, arts, medicine"
)


def stored(mysql: MySQLTarget, database: str, email: str) -> list[tuple[object, ...]]:
    return mysql.execute(
        "SELECT id, name, email, phone, program, created_at FROM users WHERE email = %s",
        (email,),
        database=database,
    )


async def test_a_registration_is_stored_and_answered_as_stored(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    email = unique_email()
    before = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    response = await client.post(
        REGISTER,
        json={
            "name": "  José   O'Brien ",
            "email": email.upper().replace("@EXAMPLE.COM", "@Example.COM"),
            "phone": "(555) 123-4567",
            "program": "engineering",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert uuid.UUID(body["id"]).version == 4
    assert body["name"] == "José O'Brien"
    assert body["phone"] == "5551234567"
    assert body["program"] == "engineering"
    [row] = stored(mysql, database, body["email"])
    assert row[:5] == (body["id"], body["name"], body["email"], "5551234567", "engineering")
    assert isinstance(row[5], datetime)
    created = datetime.fromisoformat(body["created_at"].removesuffix("Z"))
    assert before <= created < before + timedelta(seconds=5)
    assert set(body) == {"id", "name", "email", "phone", "program", "created_at"}


async def test_created_at_is_the_stored_instant_in_utc(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    response = await client.post(REGISTER, json=registration())
    body = response.json()
    [(stored_utc,)] = mysql.execute(
        "SELECT DATE_FORMAT(CONVERT_TZ(created_at, @@session.time_zone, '+00:00'),"
        " '%%Y-%%m-%%dT%%H:%%i:%%sZ') FROM users WHERE id = %s",
        (body["id"],),
        database=database,
    )
    assert body["created_at"] == stored_utc


async def test_a_unicode_name_survives_the_round_trip(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    response = await client.post(REGISTER, json=registration(name="Nguyễn Thị Minh Khai"))
    assert response.status_code == 201
    [row] = stored(mysql, database, response.json()["email"])
    assert row[1] == "Nguyễn Thị Minh Khai"


async def test_a_duplicate_email_is_refused_case_insensitively(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    first = registration()
    assert (await client.post(REGISTER, json=first)).status_code == 201
    again = registration(email=first["email"].upper())
    response = await client.post(REGISTER, json=again)
    assert response.status_code == 409
    assert response.json() == {"error": "Email already exists"}
    assert len(stored(mysql, database, first["email"])) == 1


async def test_concurrent_registrations_of_one_address_store_exactly_one(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    email = unique_email()
    # Each a different submission: an identical one would be a retry (201).
    names = [f"Racer {chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(40)]
    bodies = [registration(email=email, name=name) for name in names]
    responses = await asyncio.gather(*(client.post(REGISTER, json=b) for b in bodies))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 39
    assert len(stored(mysql, database, email)) == 1


async def test_long_values_get_a_400_not_a_database_error(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    email = "a" * 200 + "@example.com"
    response = await client.post(REGISTER, json=registration(name="a" * 300, email=email))
    assert response.status_code == 400
    assert response.json()["error"] == "Name must be at most 100 characters"
    assert "SQL" not in response.text
    assert "Data too long" not in response.text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": None}, "All fields are required"),
        ({"email": "   "}, "All fields are required"),
        ({"name": "R2-D2"}, "Name must contain only letters, spaces, hyphens, or apostrophes"),
        ({"name": "b" * 101}, "Name must be at most 100 characters"),
        ({"email": "not-an-email"}, "Invalid email format"),
        ({"phone": "12345"}, "Phone number must be 10 digits"),
        ({"phone": 5551234567}, "Phone number must be 10 digits"),
        ({"program": "Arts"}, PROGRAM_MESSAGE),
    ],
)
async def test_invalid_fields_get_the_contract_message_and_store_nothing(
    client: httpx.AsyncClient,
    mysql: MySQLTarget,
    database: str,
    fields: dict[str, object],
    message: str,
) -> None:
    body = registration(**fields)
    response = await client.post(REGISTER, json=body)
    assert response.status_code == 400
    assert response.json()["error"] == message
    assert response.json()["details"]
    if isinstance(body.get("email"), str):
        assert stored(mysql, database, body["email"].strip()) == []


async def test_a_bad_request_loses_nothing_the_next_one_succeeds(
    client: httpx.AsyncClient, mysql: MySQLTarget, database: str
) -> None:
    body = registration(phone="not a phone")
    assert (await client.post(REGISTER, json=body)).status_code == 400
    body["phone"] = "5551234567"
    assert (await client.post(REGISTER, json=body)).status_code == 201
    assert len(stored(mysql, database, body["email"])) == 1


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'"text"',
        b"null",
        b"42",
        b'{"name": ',
        b"\xff\xfe{}",
        b"{'a': 1}",
    ],
)
async def test_a_body_that_is_not_a_json_object_is_refused(
    client: httpx.AsyncClient, content: bytes
) -> None:
    response = await client.post(
        REGISTER, content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {"error": "Request body must be a JSON object"}


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""]
)
async def test_a_body_that_is_not_declared_json_gets_415(
    client: httpx.AsyncClient, content_type: str
) -> None:
    response = await client.post(
        REGISTER, content=b'{"name": "x"}', headers={"Content-Type": content_type}
    )
    assert response.status_code == 415
    assert response.json() == {"error": "Content-Type must be application/json"}


async def test_a_charset_parameter_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        REGISTER,
        content=httpx.Request("POST", "/", json=registration()).content,
        headers={"Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert response.status_code == 201


async def test_a_body_over_16_kib_gets_413(client: httpx.AsyncClient) -> None:
    body = registration(padding="x" * 17_000)
    response = await client.post(REGISTER, json=body)
    assert response.status_code == 413
    assert response.json() == {"error": "Request body too large"}


async def test_a_chunked_body_over_16_kib_gets_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(40):
            yield b"a" * 1024
        yield b'"}'

    response = await client.post(
        REGISTER, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_a_body_sent_in_pieces_is_read_whole(
    client: httpx.AsyncClient, settings: Settings, mysql: MySQLTarget
) -> None:
    data = httpx.Request("POST", "/", json=registration(name="Ada Lovelace")).content

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 7):  # one ASGI message each
            yield data[start : start + 7]

    response = await client.post(
        REGISTER, content=pieces(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    answer = response.json()
    [row] = stored(mysql, settings.db_name, answer["email"])
    assert row[:3] == (answer["id"], "Ada Lovelace", answer["email"])


async def test_a_client_gone_before_its_body_ended_is_logged_as_499_and_stores_nothing(
    settings: Settings, mysql: MySQLTarget
) -> None:
    email = unique_email()
    data = httpx.Request("POST", "/", json=registration(email=email)).content
    messages: Iterator[Message] = iter(
        [
            {"type": "http.request", "body": data[:20], "more_body": True},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> Message:
        return next(messages)

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": REGISTER,
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 123),
        "scheme": "http",
        "query_string": b"",
    }
    await create_app(settings)(scope, receive, send)
    assert sent[0]["status"] == 499
    assert stored(mysql, settings.db_name, email) == []


async def test_a_body_of_nearly_16_kib_is_accepted(client: httpx.AsyncClient) -> None:
    body = registration(padding="x" * 16_000)
    assert (await client.post(REGISTER, json=body)).status_code == 201


async def test_an_unreachable_database_answers_503_quickly(make_settings: SettingsFactory) -> None:
    # A port nothing listens on: every connection is refused.
    settings = make_settings(db_port=1, db_connect_timeout=1.0)
    async with serve(settings) as client:
        started = asyncio.get_running_loop().time()
        response = await client.post(REGISTER, json=registration())
        elapsed = asyncio.get_running_loop().time() - started
        assert response.status_code == 503
        assert response.json() == {"error": "Service temporarily unavailable, please try again"}
        assert int(response.headers["Retry-After"]) > 0
        assert elapsed < settings.db_connect_timeout + settings.db_query_timeout
        assert (await client.get("/health")).status_code == 200


async def test_an_unexpected_failure_is_a_500_with_request_id_and_no_sql(
    make_settings: SettingsFactory, mysql: MySQLTarget, fresh_database: str
) -> None:
    settings: Settings = make_settings(db_name=fresh_database)
    async with serve(settings) as client:
        # A table the service cannot write to: a real database error it has no answer for.
        mysql.execute("DROP TABLE users", database=fresh_database)
        mysql.execute("CREATE TABLE users (id INT PRIMARY KEY)", database=fresh_database)
        response = await client.post(REGISTER, json=registration())
        assert response.status_code == 500
        body = response.json()
        assert body == {
            "error": "Internal server error",
            "request_id": response.headers["X-Request-ID"],
        }
        assert "column" not in response.text.lower()
        assert "users" not in response.text


async def test_a_failed_lookup_after_a_taken_email_leaves_no_address_in_the_log(
    make_settings: SettingsFactory,
    mysql: MySQLTarget,
    database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A user that may INSERT an applicant but not read one back: the lookup that
    # follows a duplicate fails for real, and its traceback is logged.
    body = registration()
    async with serve(make_settings()) as client:
        assert (await client.post("/api/register", json=body)).status_code == 201
    user, password = f"ins_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    mysql.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
    try:
        mysql.execute(f"GRANT INSERT ON `{database}`.users TO '{user}'@'%'")
        mysql.execute(f"GRANT SELECT ON `{database}`.alembic_version TO '{user}'@'%'")
        restricted = make_settings(db_user=user, db_password=password, mail_backend="off")
        async with serve(restricted) as client:
            answer = await client.post("/api/register", json={**body, "name": "Someone Else"})
    finally:
        mysql.drop_user(user)
    assert answer.status_code == 500
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors, "the failed lookup was not logged"
    logged = "\n".join(logging.Formatter().format(r) for r in caplog.records)
    assert "Traceback" in logged
    assert body["email"] not in logged
    assert body["email"].split("@")[0] not in logged
