"""What an outbox row costs a registration: three ways of writing it, measured.

    .venv/bin/python -m bench.outbox_write [--rows 20000] [--concurrency 32] [--rounds 3]

Against the local MariaDB (DB_HOST/DB_PORT/DB_USER/DB_PASSWORD), through an
aiomysql pool of 10 autocommitting connections as the service has, on uvloop,
`--concurrency` coroutines insert `--rows` registrations, in a fresh database
per variant and round:

- `insert`: today's registration, one autocommitted INSERT into `users`;
- `transaction`: BEGIN, INSERT users, INSERT mail_outbox, COMMIT on one connection
  (the classic transactional outbox);
- `handoff`: today's INSERT, then the id is handed to a background batcher in the
  same process that writes the outbox rows with one INSERT IGNORE per batch (the
  outbox derived from the committed row, as the service does).

The service is CPU-bound at one core, so the figure that decides is the
client's CPU per registration (a registration costs it about 300 µs in all);
registrations a second and the p99 follow. The batcher's work is counted in the
`handoff` CPU, its rows checked at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiomysql
import pymysql
import uvloop

from models.schema import CREATE_USERS_TABLE

OUTBOX = """
CREATE TABLE mail_outbox (
  user_id VARCHAR(36) NOT NULL PRIMARY KEY,
  status VARCHAR(8) NOT NULL DEFAULT 'pending',
  attempts SMALLINT UNSIGNED NOT NULL DEFAULT 0,
  due_at DATETIME(3) NOT NULL,
  created_at DATETIME(3) NOT NULL,
  KEY mail_outbox_due (status, due_at)
) DEFAULT CHARSET=utf8mb4
"""
INSERT_USER = (
    "INSERT INTO users (id, name, email, phone, program, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)
INSERT_OUTBOX = (
    "INSERT INTO mail_outbox (user_id, due_at, created_at)"
    " VALUES (%s, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))"
)
BATCH = 200


def connect_args(database: str | None) -> dict[str, Any]:
    return {
        "host": os.environ.get("DB_HOST", "127.0.0.1"),
        "port": int(os.environ.get("DB_PORT", "3306")),
        "user": os.environ.get("DB_USER", "root"),
        "password": os.environ.get("DB_PASSWORD", ""),
        "db": database,
        "charset": "utf8mb4",
        "autocommit": True,
    }


def admin(sql: str) -> None:
    args = connect_args(None)
    args["database"] = args.pop("db")
    with pymysql.connect(**args) as conn, conn.cursor() as cursor:
        cursor.execute(sql)


def values(n: int) -> tuple[object, ...]:
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    return (str(uuid.uuid4()), "Bench Applicant", f"o{n}@example.com", "5550000000", "arts", now)


class Handoff:
    """The service's hand-off: ids in memory, written in batches by one task."""

    def __init__(self, pool: aiomysql.Pool) -> None:
        self.pool = pool
        self.ids: list[str] = []
        self.wake = asyncio.Event()
        self.done = False

    def add(self, user_id: str) -> None:
        self.ids.append(user_id)
        self.wake.set()

    async def run(self) -> None:
        while not (self.done and not self.ids):
            await self.wake.wait()
            self.wake.clear()
            while self.ids:
                batch, self.ids = self.ids[:BATCH], self.ids[BATCH:]
                marks = ", ".join(["(%s, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))"] * len(batch))
                async with self.pool.acquire() as conn, conn.cursor() as cursor:
                    await cursor.execute(
                        "INSERT INTO mail_outbox (user_id, due_at, created_at)"
                        f" VALUES {marks} ON DUPLICATE KEY UPDATE user_id = user_id",
                        batch,
                    )

    def finish(self) -> None:
        self.done = True
        self.wake.set()


async def insert(pool: aiomysql.Pool, n: int, handoff: Handoff | None) -> None:
    async with pool.acquire() as conn, conn.cursor() as cursor:
        await cursor.execute(INSERT_USER, values(n))
    if handoff is not None:
        handoff.add(str(n))


async def transaction(pool: aiomysql.Pool, n: int, handoff: Handoff | None) -> None:
    row = values(n)
    async with pool.acquire() as conn:
        await conn.begin()
        async with conn.cursor() as cursor:
            await cursor.execute(INSERT_USER, row)
            await cursor.execute(INSERT_OUTBOX, (row[0],))
        await conn.commit()


Variant = Callable[[aiomysql.Pool, int, Handoff | None], Awaitable[None]]


async def measure(name: str, variant: Variant, rows: int, concurrency: int) -> dict[str, float]:
    database = f"outbox_bench_{uuid.uuid4().hex[:10]}"
    admin(f"CREATE DATABASE {database}")
    try:
        pool = await aiomysql.create_pool(minsize=10, maxsize=10, **connect_args(database))
        async with pool.acquire() as conn, conn.cursor() as cursor:
            await cursor.execute(CREATE_USERS_TABLE)
            await cursor.execute(OUTBOX)
        handoff = Handoff(pool) if name == "handoff" else None
        batcher = asyncio.ensure_future(handoff.run()) if handoff else None
        counter = iter(range(rows))
        latencies: list[float] = []

        async def worker() -> None:
            for n in counter:
                started = time.perf_counter()
                await variant(pool, n, handoff)
                latencies.append(time.perf_counter() - started)

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        if handoff is not None and batcher is not None:
            handoff.finish()
            await batcher
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        async with pool.acquire() as conn, conn.cursor() as cursor:
            await cursor.execute("SELECT COUNT(*) FROM mail_outbox")
            (outbox_rows,) = await cursor.fetchone()
        pool.close()
        await pool.wait_closed()
    finally:
        admin(f"DROP DATABASE IF EXISTS {database}")
    latencies.sort()
    return {
        "per_s": rows / wall,
        "cpu_us": cpu / rows * 1e6,
        "p50_ms": latencies[len(latencies) // 2] * 1e3,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3,
        "outbox_rows": outbox_rows,
    }


VARIANTS: dict[str, Variant] = {"insert": insert, "transaction": transaction, "handoff": insert}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for round_ in range(args.rounds):
        # Alternate the order, so that a disturbance does not always hit one variant.
        names = list(VARIANTS) if round_ % 2 == 0 else list(reversed(VARIANTS))
        for name in names:
            result = await measure(name, VARIANTS[name], args.rows, args.concurrency)
            results[name].append(result)
            figures = "  ".join(f"{k} {v:.1f}" for k, v in result.items())
            print(f"round {round_ + 1} {name:12} {figures}")
    print(f"\nmedians of {args.rounds} rounds, {args.rows} rows, concurrency {args.concurrency}")
    base = statistics.median(r["cpu_us"] for r in results["insert"])
    for name, runs in results.items():
        cpu = statistics.median(r["cpu_us"] for r in runs)
        print(
            f"{name:12} {statistics.median(r['per_s'] for r in runs):8.0f}/s"
            f"  client CPU {cpu:6.1f} µs (+{cpu - base:5.1f})"
            f"  p50 {statistics.median(r['p50_ms'] for r in runs):6.2f} ms"
            f"  p99 {statistics.median(r['p99_ms'] for r in runs):6.2f} ms"
        )


if __name__ == "__main__":
    uvloop.run(main())
