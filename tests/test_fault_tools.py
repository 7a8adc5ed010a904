"""The fault-injection tools themselves: a private MariaDB server and the TCP proxy."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import aiomysql
import pymysql
import pytest

from tests.support.mariadb_server import MariaDBServer
from tests.support.tcp_proxy import ProxyMode, TcpProxy

# A reset or a refusal must surface at once, not after some timeout.
FAST = 0.5
ER_CANT_CONNECT = 2003


class Connect(Protocol):
    """Opens a PyMySQL connection as root to 127.0.0.1:port."""

    def __call__(self, port: int, **options: Any) -> pymysql.Connection[Any]: ...


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    """One private server for the module: installing and starting it takes seconds."""
    with MariaDBServer(tmp_path_factory.mktemp("mariadb")) as server:
        yield server


@pytest.fixture
def running(server: MariaDBServer) -> MariaDBServer:
    """The module's server, started again if an earlier test left it down."""
    server.start()
    return server


@pytest.fixture
def proxy(running: MariaDBServer) -> Iterator[TcpProxy]:
    """A proxy in front of the private server; stop() fails on any loop error."""
    with TcpProxy(running.host, running.port) as proxy:
        yield proxy


@pytest.fixture
def connect() -> Iterator[Connect]:
    """Opens PyMySQL connections as root to a port, and closes those still open."""
    opened: list[pymysql.Connection[Any]] = []

    def connect(port: int, **options: Any) -> pymysql.Connection[Any]:
        conn = pymysql.connect(
            host="127.0.0.1", port=port, user="root", password="", connect_timeout=2, **options
        )
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        if conn.open:  # PyMySQL closes a connection itself when it fails
            conn.close()


def select_one(conn: pymysql.Connection[Any]) -> tuple[Any, ...] | None:
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1")
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row


def test_private_server_is_its_own(running: MariaDBServer) -> None:
    assert running.is_running
    assert running.port not in (0, 3306)
    rows = running.execute("SELECT @@port, @@bind_address, @@datadir")
    assert rows == [(running.port, "127.0.0.1", f"{running.datadir}/")]
    assert running.execute("SELECT %s + %s", 1, 2) == [(3,)]


def test_data_survives_a_graceful_restart(running: MariaDBServer) -> None:
    running.execute("CREATE DATABASE IF NOT EXISTS survive")
    running.execute("CREATE TABLE survive.t (x INT)")
    running.execute("INSERT INTO survive.t VALUES (%s)", 42)
    port = running.port

    running.restart()

    assert running.port == port
    assert running.execute("SELECT x FROM t", database="survive") == [(42,)]


def test_killed_server_refuses_then_recovers(running: MariaDBServer, connect: Connect) -> None:
    running.execute("CREATE DATABASE IF NOT EXISTS crash")
    running.execute("CREATE TABLE crash.t (x INT) ENGINE=InnoDB")
    running.execute("INSERT INTO crash.t VALUES (7)")

    running.kill()

    assert not running.is_running
    with pytest.raises(pymysql.OperationalError) as error:
        connect(running.port)
    assert error.value.args[0] == ER_CANT_CONNECT
    running.start()
    assert running.execute("SELECT x FROM crash.t") == [(7,)]


def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    # An empty system schema: mariadbd exits at once, without an install.
    (tmp_path / "data" / "mysql").mkdir(parents=True)
    broken = MariaDBServer(tmp_path)

    with pytest.raises(RuntimeError, match=r"exited with code [1-9]") as error:
        broken.start(timeout=10)

    assert "[ERROR]" in str(error.value)  # the error log's tail
    assert not broken.is_running


def test_proxy_forwards_and_counts_connections(proxy: TcpProxy, connect: Connect) -> None:
    assert (proxy.active_connections, proxy.total_connections) == (0, 0)
    first, second = connect(proxy.port), connect(proxy.port)
    assert select_one(first) == select_one(second) == (1,)
    assert (proxy.active_connections, proxy.total_connections) == (2, 2)

    first.close()
    proxy.wait_for_active_connections(1)
    second.close()
    proxy.wait_for_active_connections(0)
    assert proxy.total_connections == 2


def test_reset_breaks_current_connections_only(proxy: TcpProxy, connect: Connect) -> None:
    old = connect(proxy.port)
    select_one(old)

    proxy.reset()

    started = time.monotonic()
    with pytest.raises(pymysql.OperationalError):
        select_one(old)
    assert time.monotonic() - started < FAST
    assert proxy.mode is ProxyMode.FORWARD
    assert select_one(connect(proxy.port)) == (1,)
    assert (proxy.active_connections, proxy.total_connections) == (1, 2)


def test_refuse_fails_connects_fast_until_forward(proxy: TcpProxy, connect: Connect) -> None:
    old = connect(proxy.port)

    proxy.refuse()

    started = time.monotonic()
    with pytest.raises(pymysql.OperationalError) as error:
        connect(proxy.port)
    assert error.value.args[0] == ER_CANT_CONNECT  # ECONNREFUSED, as from a host without server
    with pytest.raises(pymysql.OperationalError):
        select_one(old)
    assert time.monotonic() - started < FAST
    assert proxy.total_connections == 1

    proxy.forward()
    assert select_one(connect(proxy.port)) == (1,)


def test_blackhole_hangs_until_the_client_gives_up(proxy: TcpProxy, connect: Connect) -> None:
    busy = connect(proxy.port, read_timeout=1)
    idle = connect(proxy.port, read_timeout=1)

    proxy.blackhole()

    started = time.monotonic()
    with pytest.raises(pymysql.OperationalError, match="timed out"):
        select_one(busy)
    assert time.monotonic() - started >= 0.9  # nothing came back, not even a reset
    with pytest.raises(pymysql.OperationalError, match="timed out"):
        connect(proxy.port, read_timeout=1)  # accepted, but the greeting never comes
    proxy.wait_for_active_connections(1)  # the proxy closed nothing; `idle` is still open
    assert idle.open

    proxy.forward()
    assert select_one(connect(proxy.port)) == (1,)
    with pytest.raises(pymysql.OperationalError, match="timed out"):
        select_one(idle)  # black-holed connections stay dead after the heal


def test_reset_clears_connections_left_dead_by_a_blackhole(
    proxy: TcpProxy, connect: Connect
) -> None:
    dead = connect(proxy.port, read_timeout=5)
    proxy.blackhole()
    proxy.forward()

    proxy.reset()

    started = time.monotonic()
    with pytest.raises(pymysql.OperationalError):
        select_one(dead)
    assert time.monotonic() - started < FAST
    proxy.wait_for_active_connections(0)


def test_proxy_passes_a_server_restart_and_outage_on(
    running: MariaDBServer, proxy: TcpProxy, connect: Connect
) -> None:
    old = connect(proxy.port)
    select_one(old)

    running.stop()
    with pytest.raises(pymysql.OperationalError):
        select_one(old)  # the server's close reaches the client
    started = time.monotonic()
    with pytest.raises(pymysql.OperationalError):
        connect(proxy.port)  # accepted by the proxy, then reset: nothing behind it
    assert time.monotonic() - started < FAST

    running.start()
    assert select_one(connect(proxy.port)) == (1,)
    proxy.wait_for_active_connections(1)


@pytest.mark.anyio
async def test_a_pool_opens_no_more_connections_than_its_size(proxy: TcpProxy) -> None:
    pool = await aiomysql.create_pool(
        host=proxy.host, port=proxy.port, user="root", password="", minsize=0, maxsize=2
    )
    try:

        async def query() -> Any:
            async with pool.acquire() as conn, conn.cursor() as cursor:
                await cursor.execute("SELECT SLEEP(0.05)")
                return await cursor.fetchone()

        results = await asyncio.gather(*(query() for _ in range(10)))
        assert results == [(0,)] * 10
        assert proxy.total_connections == 2
    finally:
        pool.close()
        await pool.wait_closed()
    await asyncio.to_thread(proxy.wait_for_active_connections, 0)


def rows_of(server: MariaDBServer, table: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in server.execute(f"SELECT * FROM {table} ORDER BY 1")]


def wait_for_rows(server: MariaDBServer, table: str, expected: int) -> None:
    deadline = time.monotonic() + 5
    while len(rows_of(server, table)) != expected:
        assert time.monotonic() < deadline, f"{table} never had {expected} rows"
        time.sleep(0.02)


def test_hold_keeps_the_bytes_then_release_delivers_them(
    running: MariaDBServer, proxy: TcpProxy, connect: Connect
) -> None:
    running.execute("CREATE DATABASE IF NOT EXISTS held")
    running.execute("CREATE OR REPLACE TABLE held.t (x INT)")
    conn = connect(proxy.port, read_timeout=10, autocommit=True)

    proxy.hold()
    with concurrent.futures.ThreadPoolExecutor(1) as worker:
        insert = worker.submit(conn.cursor().execute, "INSERT INTO held.t VALUES (1), (2)")
        time.sleep(0.5)
        assert not insert.done()  # neither the statement nor an answer got through
        assert rows_of(running, "held.t") == []

        proxy.release()

        assert insert.result(timeout=5) == 2
    assert rows_of(running, "held.t") == [(1,), (2,)]
    assert select_one(conn) == (1,)  # the connection carries on


def test_a_statement_held_past_its_clients_timeout_runs_on_release(
    running: MariaDBServer, proxy: TcpProxy, connect: Connect
) -> None:
    running.execute("CREATE DATABASE IF NOT EXISTS held")
    running.execute("CREATE OR REPLACE TABLE held.t (x INT)")
    conn = connect(proxy.port, read_timeout=0.5, autocommit=True)

    proxy.hold()
    with pytest.raises(pymysql.OperationalError, match="timed out"):
        conn.cursor().execute("INSERT INTO held.t VALUES (7)")
    assert not conn.open  # the client gave up and closed its connection
    time.sleep(0.2)
    assert rows_of(running, "held.t") == []

    proxy.release()

    # The client never learns it, but the statement committed: the ambiguity a
    # timed-out write leaves behind.
    wait_for_rows(running, "held.t", 1)
    assert rows_of(running, "held.t") == [(7,)]
    proxy.wait_for_active_connections(0)


def test_new_connections_are_held_too(
    running: MariaDBServer, proxy: TcpProxy, connect: Connect
) -> None:
    proxy.hold()
    with pytest.raises(pymysql.OperationalError, match="timed out"):
        connect(proxy.port, read_timeout=0.5)  # the greeting is held

    proxy.release()
    assert select_one(connect(proxy.port)) == (1,)


def test_blackhole_drops_what_hold_kept(
    running: MariaDBServer, proxy: TcpProxy, connect: Connect
) -> None:
    running.execute("CREATE DATABASE IF NOT EXISTS held")
    running.execute("CREATE OR REPLACE TABLE held.t (x INT)")
    conn = connect(proxy.port, read_timeout=0.5, autocommit=True)
    proxy.hold()
    with pytest.raises(pymysql.OperationalError, match="timed out"):
        conn.cursor().execute("INSERT INTO held.t VALUES (7)")

    proxy.blackhole()
    proxy.forward()

    time.sleep(0.3)
    assert rows_of(running, "held.t") == []
