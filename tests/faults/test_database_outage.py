"""Database outages caused for real: a private MariaDB behind a proxy that can fail.

The service talks to its own mariadbd (tests/support/mariadb_server.py) through a
TCP proxy (tests/support/tcp_proxy.py) that can reset every connection (a server
restart or failover), refuse new ones (the server is down) or black-hole them
(packets dropped: a partition or an RDS failover). The server itself is also
restarted, and its wait_timeout shortened, for real.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Iterator

import httpx
import pytest

from config.settings import Settings
from tests.support.app_client import serve
from tests.support.mariadb_server import MariaDBServer
from tests.support.payloads import registration
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.anyio

CONNECT_TIMEOUT = 1.0
QUERY_TIMEOUT = 1.0
# The contract's bound for a 503, plus scheduling slack on a loaded 2-core machine.
ANSWER_BOUND = CONNECT_TIMEOUT + QUERY_TIMEOUT + 0.5
RECOVERY_BOUND = 2.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    """A mariadbd of this module's own, which the tests may stop and restart."""
    with MariaDBServer(tmp_path_factory.mktemp("mariadb")) as mariadb:
        mariadb.execute("CREATE DATABASE schoolapp CHARACTER SET utf8mb4")
        yield mariadb


@pytest.fixture
def proxy(server: MariaDBServer) -> Iterator[TcpProxy]:
    """A proxy between the service and the private server, forwarding to start with."""
    if not server.is_running:
        server.start()
    with TcpProxy(server.host, server.port) as tcp:
        yield tcp


@pytest.fixture
def settings(proxy: TcpProxy) -> Settings:
    return Settings(
        db_host=proxy.host,
        db_port=proxy.port,
        db_user="root",
        db_password="",
        db_name="schoolapp",
        db_connect_timeout=CONNECT_TIMEOUT,
        db_query_timeout=QUERY_TIMEOUT,
        db_pool_max=4,
    )


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings) as http:
        yield http


def count_rows(server: MariaDBServer, email: str) -> int:
    rows = server.execute("SELECT COUNT(*) FROM schoolapp.users WHERE email = %s", email)
    return int(rows[0][0])


async def timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


async def time_to_recover(client: httpx.AsyncClient) -> float:
    """Seconds until a registration succeeds again, polling as a client would."""
    started = time.monotonic()
    while time.monotonic() - started < 10:
        if (await client.post("/api/register", json=registration())).status_code == 201:
            recovered = time.monotonic() - started
            print(f"recovered in {recovered:.3f} s")
            return recovered
        await asyncio.sleep(0.05)
    raise AssertionError("the service did not recover within 10 s")


async def assert_outage_answers(client: httpx.AsyncClient) -> float:
    """During an outage: 503 with Retry-After in bounded time, /health at once, not ready."""
    response, elapsed = await timed(client.post("/api/register", json=registration()))
    assert response.status_code == 503
    assert response.json() == {"error": "Service temporarily unavailable, please try again"}
    assert int(response.headers["Retry-After"]) > 0
    assert elapsed < ANSWER_BOUND
    print(f"503 in {elapsed:.3f} s")
    health, health_elapsed = await timed(client.get("/health"))
    assert health.status_code == 200
    assert health_elapsed < 0.1
    ready, ready_elapsed = await timed(client.get("/health/ready"))
    assert ready.status_code == 503
    assert ready.json() == {"status": "UNAVAILABLE", "database": "down"}
    assert ready_elapsed < 1.5
    return elapsed


async def test_connections_reset_by_a_failover_never_reach_a_request(
    client: httpx.AsyncClient, proxy: TcpProxy
) -> None:
    assert (await client.post("/api/register", json=registration())).status_code == 201
    proxy.reset()
    # The pooled connections are dead; the next registration must not see that.
    statuses = [
        (await client.post("/api/register", json=registration())).status_code for _ in range(3)
    ]
    assert statuses == [201, 201, 201]


async def test_a_server_restart_is_invisible_to_the_next_registration(
    client: httpx.AsyncClient, server: MariaDBServer
) -> None:
    assert (await client.post("/api/register", json=registration())).status_code == 201
    server.restart()
    assert (await client.post("/api/register", json=registration())).status_code == 201


async def test_connections_past_wait_timeout_never_reach_a_request(
    settings: Settings, server: MariaDBServer
) -> None:
    server.execute("SET GLOBAL wait_timeout = 1")
    try:
        async with serve(settings) as client:
            assert (await client.post("/api/register", json=registration())).status_code == 201
            await asyncio.sleep(2.5)  # the server closes the idle pooled connections
            assert (await client.post("/api/register", json=registration())).status_code == 201
    finally:
        server.execute("SET GLOBAL wait_timeout = 28800")


async def test_a_refused_database_gets_503s_then_recovers(
    client: httpx.AsyncClient, proxy: TcpProxy
) -> None:
    assert (await client.post("/api/register", json=registration())).status_code == 201
    proxy.refuse()
    await assert_outage_answers(client)
    proxy.forward()
    assert await time_to_recover(client) < RECOVERY_BOUND
    assert (await client.get("/health/ready")).status_code == 200


async def test_a_stopped_server_gets_503s_then_recovers_when_it_starts(
    client: httpx.AsyncClient, server: MariaDBServer
) -> None:
    assert (await client.post("/api/register", json=registration())).status_code == 201
    server.kill()  # a crash: no goodbye to the clients
    await assert_outage_answers(client)
    server.start()
    assert await time_to_recover(client) < RECOVERY_BOUND


async def test_a_black_holed_database_gets_bounded_503s_then_recovers(
    client: httpx.AsyncClient, proxy: TcpProxy
) -> None:
    assert (await client.post("/api/register", json=registration())).status_code == 201
    proxy.blackhole()
    # Both the pooled connections (a query that never answers) and new ones (a
    # greeting that never comes) are bounded.
    first = await assert_outage_answers(client)
    second = await assert_outage_answers(client)
    assert max(first, second) < ANSWER_BOUND
    # Many at once: none hangs, all answer 503.
    answers = await asyncio.gather(
        *(client.post("/api/register", json=registration()) for _ in range(10))
    )
    assert {a.status_code for a in answers} == {503}
    proxy.forward()
    assert await time_to_recover(client) < RECOVERY_BOUND


async def test_a_connection_lost_after_the_insert_does_not_store_twice(
    client: httpx.AsyncClient,
    proxy: TcpProxy,
    server: MariaDBServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A slow INSERT gives the test time to cut the connection under it: the
    # server may or may not commit, and the service cannot know which.
    server.execute(
        "CREATE TRIGGER schoolapp.slow_insert BEFORE INSERT ON schoolapp.users"
        " FOR EACH ROW SET NEW.name = IF(SLEEP(0.4) = 0, NEW.name, NEW.name)"
    )
    try:
        body = registration()
        request = asyncio.ensure_future(client.post("/api/register", json=body))
        await asyncio.sleep(0.2)
        proxy.reset()
        response = await request
    finally:
        server.execute("DROP TRIGGER schoolapp.slow_insert")
    assert response.status_code == 201
    assert count_rows(server, response.json()["email"]) == 1
    assert any("connection lost during INSERT" in r.getMessage() for r in caplog.records)
