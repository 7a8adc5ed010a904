"""A cold start under load: 64 requests at once open at most the pool's maximum."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration
from tests.support.service_process import ServiceProcess
from tests.support.tcp_proxy import TcpProxy

POOL_MAX = 5
# A database behind HEAD is migrated at start-up over one short-lived connection of its own.
MIGRATION_CONNECTIONS = 1
CONCURRENT = 64


async def burst(base_url: str) -> list[int]:
    limits = httpx.Limits(max_connections=CONCURRENT)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        answers = await asyncio.gather(
            *(client.post("/api/register", json=registration()) for _ in range(CONCURRENT))
        )
    return [a.status_code for a in answers]


def test_64_concurrent_requests_on_a_fresh_process_stay_within_the_pool(
    mysql: MySQLTarget, database: str, tmp_path: Path
) -> None:
    with TcpProxy(mysql.host, mysql.port) as proxy:
        environment = {
            **mysql.environment(database),
            # Through the proxy, which counts every connection the process opens.
            "DB_HOST": proxy.host,
            "DB_PORT": str(proxy.port),
            "DB_POOL_MAX": str(POOL_MAX),
        }
        with ServiceProcess(environment, tmp_path / "service.log") as service:
            statuses = asyncio.run(burst(service.base_url))
            assert statuses == [201] * CONCURRENT
            # Every connection the process ever opened went through the proxy.
            assert proxy.total_connections <= POOL_MAX + MIGRATION_CONNECTIONS
            assert proxy.active_connections <= POOL_MAX
        # Stopped: the pool closed every connection it had, none leaked.
        proxy.wait_for_active_connections(0)
        assert proxy.active_connections == 0
