"""The benchmark's ceiling: a minimal raw-ASGI registration app with no framework.

It does what the service does on its hot paths with nothing in between: the same
aiomysql pool (same size, autocommit, ``time_zone '+00:00'``), the same table and
the same INSERT with a uuid4 id made in Python and ``created_at`` = UTC now
truncated to seconds, JSON in and out with orjson, served by uvicorn in one
process with uvloop + httptools and no access log. It validates only what it
must to build the INSERT (a JSON object of four strings): the service's
validation, middleware and logging are exactly the cost the benchmark measures.

Run: ``python bench/ceiling_app.py`` with ``PORT``, ``DB_HOST``, ``DB_PORT``,
``DB_USER``, ``DB_PASSWORD``, ``DB_NAME``, ``DB_POOL_MIN``, ``DB_POOL_MAX`` in the
environment (the service's variable names and defaults).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiomysql
import orjson
import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

INSERT_SQL = (
    "INSERT INTO users (id, name, email, phone, program, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)

FIELDS = ("name", "email", "phone", "program")
DUPLICATE_KEY = 1062
MAX_BODY = 16 * 1024


@dataclass(frozen=True, slots=True)
class DbConfig:
    """Connection settings, read from the same variables as the service's."""

    host: str
    port: int
    user: str
    password: str
    name: str
    pool_min: int
    pool_max: int

    @classmethod
    def from_env(cls) -> DbConfig:
        """Read the settings from the environment with the service's defaults."""
        return cls(
            host=os.environ.get("DB_HOST", "127.0.0.1"),
            port=int(os.environ.get("DB_PORT", "3306")),
            user=os.environ.get("DB_USER", "root"),
            password=os.environ.get("DB_PASSWORD", ""),
            name=os.environ.get("DB_NAME", "schoolapp"),
            pool_min=int(os.environ.get("DB_POOL_MIN", "1")),
            pool_max=int(os.environ.get("DB_POOL_MAX", "10")),
        )


def _json_response(status: int, body: bytes) -> tuple[Message, Message]:
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


HEALTH_OK = _json_response(200, b'{"status":"OK"}')
READY_OK = _json_response(200, b'{"status":"OK","database":"up"}')
READY_DOWN = _json_response(503, b'{"status":"UNAVAILABLE","database":"down"}')
NOT_FOUND = _json_response(404, b'{"error":"Not found"}')
BAD_BODY = _json_response(400, b'{"error":"Request body must be a JSON object"}')
MISSING = _json_response(400, b'{"error":"All fields are required"}')
TOO_LARGE = _json_response(413, b'{"error":"Request body too large"}')
DUPLICATE = _json_response(409, b'{"error":"Email already exists"}')
UNAVAILABLE = _json_response(503, b'{"error":"Service temporarily unavailable, please try again"}')


class CeilingApp:
    """Raw ASGI app: ``/health``, ``/health/ready`` and ``POST /api/register``."""

    def __init__(self, config: DbConfig) -> None:
        """Keep the settings; the pool is made at lifespan start-up."""
        self._config = config
        self._pool: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._pool is not None:
                    self._pool.close()
                    await self._pool.wait_closed()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start(self) -> None:
        cfg = self._config
        # Like the service in local mode: create the database when missing,
        # so start-up to ready does the same work for both servers.
        conn = await aiomysql.connect(
            host=cfg.host, port=cfg.port, user=cfg.user, password=cfg.password
        )
        try:
            async with conn.cursor() as cur:
                await cur.execute(
                    f"CREATE DATABASE IF NOT EXISTS `{cfg.name}` DEFAULT CHARACTER SET utf8mb4"
                )
        finally:
            conn.close()
        self._pool = await aiomysql.create_pool(
            host=cfg.host,
            port=cfg.port,
            user=cfg.user,
            password=cfg.password,
            db=cfg.name,
            minsize=cfg.pool_min,
            maxsize=cfg.pool_max,
            autocommit=True,
            charset="utf8mb4",
            init_command="SET time_zone = '+00:00'",
        )
        # the benchmark creates the table (models/schema.py's DDL); fail now if it is missing.
        async with self._pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SELECT 1 FROM users LIMIT 0")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        method = scope["method"]
        if path == "/api/register" and method == "POST":
            response = await self._register(receive)
        elif path == "/health" and method == "GET":
            response = HEALTH_OK
        elif path == "/health/ready" and method == "GET":
            response = await self._ready()
        else:
            response = NOT_FOUND
        await send(response[0])
        await send(response[1])

    async def _ready(self) -> tuple[Message, Message]:
        try:
            async with asyncio.timeout(1.0), self._pool.acquire() as conn:
                await conn.ping(reconnect=False)
        except (TimeoutError, OSError, aiomysql.Error):
            return READY_DOWN
        return READY_OK

    async def _register(self, receive: Receive) -> tuple[Message, Message]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                return TOO_LARGE
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        try:
            data = orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError:
            return BAD_BODY
        if not isinstance(data, dict):
            return BAD_BODY
        values = [data.get(field) for field in FIELDS]
        if not all(isinstance(v, str) and v for v in values):
            return MISSING
        name, email, phone, program = values
        user_id = str(uuid.uuid4())
        created_at = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
        try:
            async with self._pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute(INSERT_SQL, (user_id, name, email, phone, program, created_at))
        except aiomysql.IntegrityError as exc:
            if exc.args and exc.args[0] == DUPLICATE_KEY:
                return DUPLICATE
            return UNAVAILABLE
        except (OSError, aiomysql.Error):
            return UNAVAILABLE
        body = orjson.dumps(
            {
                "id": user_id,
                "name": name,
                "email": email,
                "phone": phone,
                "program": program,
                "created_at": created_at.isoformat() + "Z",
            }
        )
        return _json_response(201, body)


def main() -> None:
    """Serve the ceiling like index.py serves the service: one uvicorn process, uvloop, httptools.

    The server options that change the bytes on the wire or the connection handling
    (no Server header, keep-alive) are the service's; only logging is left out.
    """
    uvicorn.run(
        CeilingApp(DbConfig.from_env()),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "3000")),
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_keep_alive=65,
    )


if __name__ == "__main__":
    main()
