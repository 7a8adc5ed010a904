"""The driver pin: aiomysql 0.3.2 with the pinned PyMySQL handles every parameter type."""

from __future__ import annotations

from datetime import datetime

import aiomysql
import pytest

from tests.support.mysql_target import MySQLTarget

pytestmark = pytest.mark.anyio


async def test_bytes_str_and_datetime_parameters_round_trip(mysql: MySQLTarget) -> None:
    # aiomysql 0.3.2 with PyMySQL >= 1.2.3 fails here with
    # "TypeError: 'str' object is not callable" (aio-libs/aiomysql#1080).
    conn = await aiomysql.connect(
        host=mysql.host, port=mysql.port, user=mysql.user, password=mysql.password
    )
    try:
        async with conn.cursor() as cursor:
            moment = datetime(2026, 1, 2, 3, 4, 5)
            await cursor.execute(
                "SELECT %s, %s, %s, %s", (b"\x00raw'bytes", "José's", moment, None)
            )
            # A bare SELECT of a parameter comes back as text, not as a DATETIME.
            assert await cursor.fetchone() == (b"\x00raw'bytes", "José's", str(moment), None)
    finally:
        conn.close()
