"""A registration answered 503 that was stored after all, caused for real; then the retry.

The service talks to a private mariadbd through a TCP proxy that holds bytes (a
partition) and delivers them when the network heals (tests/support/tcp_proxy.py).
An INSERT held past the service's budget is answered 503 ("please try again"),
then lands when the proxy delivers it. The applicant's retry must be told the
truth: 201 with the row that landed, not "Email already exists".
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from config.settings import Settings
from tests.support.app_client import serve
from tests.support.mariadb_server import MariaDBServer
from tests.support.payloads import registration
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.anyio

REGISTER = "/api/register"
CONNECT_TIMEOUT = 1.0
QUERY_TIMEOUT = 1.0
POOL_MAX = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    """A mariadbd of this module's own."""
    with MariaDBServer(tmp_path_factory.mktemp("mariadb")) as mariadb:
        mariadb.execute("CREATE DATABASE schoolapp CHARACTER SET utf8mb4")
        yield mariadb


@pytest.fixture
def proxy(server: MariaDBServer) -> Iterator[TcpProxy]:
    with TcpProxy(server.host, server.port) as tcp:
        yield tcp


def settings_for(proxy: TcpProxy, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "db_host": proxy.host,
        "db_port": proxy.port,
        "db_user": "root",
        "db_password": "",
        "db_name": "schoolapp",
        "db_connect_timeout": CONNECT_TIMEOUT,
        "db_query_timeout": QUERY_TIMEOUT,
        "db_pool_max": POOL_MAX,
        # settle() waits for the service's connections to close; a mail sender
        # would keep opening new ones (its own tests are tests/faults/test_mail_*).
        "mail_backend": "off",
        # Dozens of registrations from one address in a minute: the limits are not under test.
        "rate_limit_register": "off",
        "rate_limit_mismatch": "off",
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
async def client(proxy: TcpProxy) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings_for(proxy)) as http:
        # The pool is open and the schema set up before any test holds the network.
        assert (await http.post(REGISTER, json=registration())).status_code == 201
        yield http


def ids(server: MariaDBServer, email: str) -> list[str]:
    rows = server.execute("SELECT id FROM schoolapp.users WHERE email = %s", email)
    return [row[0] for row in rows]


def settle(server: MariaDBServer) -> None:
    """Wait until the server has run and closed every connection the held bytes reopened.

    The server reads a held statement, runs it, then the held close: once the
    service's old connections are gone, whatever was held has landed.
    """
    deadline = time.monotonic() + 10
    while server.execute(
        "SELECT COUNT(*) FROM information_schema.processlist"
        " WHERE db = 'schoolapp' AND id <> CONNECTION_ID()"
    ) != [(0,)]:
        assert time.monotonic() < deadline, "the held connections never closed"
        time.sleep(0.05)


async def held(client: httpx.AsyncClient, proxy: TcpProxy, *requests: Any) -> list[int]:
    """Send `requests` (keyword arguments of client.post) while the network holds bytes.

    The network still holds them on return: `heal` delivers them.
    """
    proxy.hold()
    answers = await asyncio.gather(*(client.post(REGISTER, **r) for r in requests))
    return [a.status_code for a in answers]


def heal(proxy: TcpProxy, server: MariaDBServer) -> None:
    """Deliver what the network held, and wait until it has all landed."""
    proxy.release()
    settle(server)


async def test_a_503_whose_insert_lands_later_is_answered_201_on_retry(
    client: httpx.AsyncClient, proxy: TcpProxy, server: MariaDBServer
) -> None:
    body = registration()
    assert await held(client, proxy, {"json": body}) == [503]
    assert ids(server, body["email"]) == []  # still on the wire when the 503 went out
    heal(proxy, server)
    [landed] = ids(server, body["email"])  # stored after all

    retry = await client.post(REGISTER, json=body)

    assert retry.status_code == 201
    assert retry.json()["id"] == landed
    assert ids(server, body["email"]) == [landed]


async def test_without_replay_the_retry_is_told_the_email_exists(
    proxy: TcpProxy, server: MariaDBServer
) -> None:
    # The fault as it was before retries were recognised: REPLAY_WINDOW_SECONDS=0.
    async with serve(settings_for(proxy, replay_window_seconds=0)) as client:
        assert (await client.post(REGISTER, json=registration())).status_code == 201
        body = registration()
        assert await held(client, proxy, {"json": body}) == [503]
        heal(proxy, server)
        retry = await client.post(REGISTER, json=body)
    assert (retry.status_code, retry.json()) == (409, {"error": "Email already exists"})
    assert len(ids(server, body["email"])) == 1


async def test_after_a_partition_rows_equal_the_registrations_answered_201(
    client: httpx.AsyncClient, proxy: TcpProxy, server: MariaDBServer
) -> None:
    before = [registration() for _ in range(4)]
    during = [registration() for _ in range(8)]
    answers = await asyncio.gather(*(client.post(REGISTER, json=b) for b in before))
    assert [a.status_code for a in answers] == [201] * 4

    assert await held(client, proxy, *({"json": b} for b in during)) == [503] * 8
    assert not any(ids(server, b["email"]) for b in during)
    heal(proxy, server)
    landed = [b for b in during if ids(server, b["email"])]
    # The pool's connections carried some INSERTs into the partition; the rest
    # were waiting for a connection and never left.
    assert 1 <= len(landed) <= POOL_MAX
    print(f"{len(landed)} of {len(during)} registrations answered 503 were stored")

    retries = [await client.post(REGISTER, json=b) for b in during]

    assert [r.status_code for r in retries] == [201] * 8
    answered = [a.json()["id"] for a in answers] + [r.json()["id"] for r in retries]
    assert len(set(answered)) == len(before) + len(during)
    for body, answer_id in zip(before + during, answered, strict=True):
        assert ids(server, body["email"]) == [answer_id]


async def test_a_keyed_request_cut_off_after_its_key_is_resent_under_the_same_id(
    client: httpx.AsyncClient, proxy: TcpProxy, server: MariaDBServer
) -> None:
    # The process's first keyed registration sweeps expired keys first: done here,
    # so that the held statement is the key's INSERT.
    warm_up = {"Idempotency-Key": str(uuid.uuid4())}
    assert (await client.post(REGISTER, json=registration(), headers=warm_up)).status_code == 201
    key, body = str(uuid.uuid4()), registration()
    headers = {"Idempotency-Key": f'"{key}"'}
    assert await held(client, proxy, {"json": body, "headers": headers}) == [503]
    heal(proxy, server)
    [(named,)] = server.execute(
        "SELECT user_id FROM schoolapp.idempotency_keys WHERE idempotency_key = %s", key
    )
    assert ids(server, body["email"]) == []  # the key landed, the INSERT never left

    retry = await client.post(REGISTER, json=body, headers=headers)

    assert retry.status_code == 201
    assert retry.json()["id"] == named
    assert ids(server, body["email"]) == [named]


async def test_a_keyed_request_whose_answer_was_lost_gets_its_row(
    client: httpx.AsyncClient, proxy: TcpProxy, server: MariaDBServer
) -> None:
    # A slow INSERT: it reaches the server, then the network holds its answer.
    server.execute(
        "CREATE TRIGGER schoolapp.slow_insert BEFORE INSERT ON schoolapp.users"
        " FOR EACH ROW SET NEW.name = IF(SLEEP(0.5) = 0, NEW.name, NEW.name)"
    )
    key, body = str(uuid.uuid4()), registration()
    headers = {"Idempotency-Key": key}
    try:
        request = asyncio.ensure_future(client.post(REGISTER, json=body, headers=headers))
        await asyncio.sleep(0.25)
        proxy.hold()
        answer = await request
        heal(proxy, server)
    finally:
        server.execute("DROP TRIGGER schoolapp.slow_insert")
    assert answer.status_code == 503
    [stored] = ids(server, body["email"])

    retry = await client.post(REGISTER, json=body, headers=headers)
    other = await client.post(REGISTER, json=registration(), headers=headers)

    assert (retry.status_code, retry.json()["id"]) == (201, stored)
    assert other.status_code == 422
    assert ids(server, body["email"]) == [stored]
