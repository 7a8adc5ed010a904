"""The fleet check's client: registrations at a steady rate, each re-sent until answered.

Every registration has an address of its own and an `Idempotency-Key` of its
own; a failed send (no answer, or 502/503/504) is re-sent identically, so the
service answers a retry of a stored registration with that row's 201. Bounded:
`count` registrations, at most `MAX_ATTEMPTS` sends each, each within
`ATTEMPT_TIMEOUT_SECONDS`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import AsyncExitStack

import httpx
from fleet_verdict import RETRIED_STATUSES, Attempt, Registration

MAX_ATTEMPTS = 5
ATTEMPT_TIMEOUT_SECONDS = 10.0
BACKOFF_SECONDS = 0.2
# Sends under way at most; past it the schedule slips, and the latency shows it.
# One client a connection: httpx's pool costs about 0.9 ms of CPU a request at one
# connection, 4 ms at 64 (measured), and this client shares 2 cores with the fleet.
MAX_IN_FLIGHT = 64
PROGRAMS = ("computer-science", "engineering", "business", "arts", "medicine")
SERVER_HEADER = "x-fleet-server"


def _body(run_id: str, number: int) -> dict[str, str]:
    return {
        "name": "Fleet Applicant",
        "email": f"fleet.{run_id}.{number:06d}@example.com",
        "phone": "555-123-4567",
        "program": PROGRAMS[number % len(PROGRAMS)],
    }


def _client_address(number: int) -> str:
    # RFC 2544's benchmark range, 198.18.0.0/15: one address a registration.
    return f"198.{18 + number // 65536 % 2}.{number // 256 % 256}.{number % 256}"


async def _register(
    clients: asyncio.Queue[httpx.AsyncClient],
    url: str,
    registration: Registration,
    body: dict[str, str],
    t0: float,
    *,
    client_address: str,
) -> None:
    headers = {
        "Idempotency-Key": str(uuid.uuid4()),
        # Applicants come from many addresses, as behind the ALB: HAProxy appends its
        # peer (127.0.0.1, the trusted proxy), and the service believes the entry before.
        "X-Forwarded-For": client_address,
    }
    for attempt in range(1, MAX_ATTEMPTS + 1):
        client = await clients.get()
        try:
            started = time.monotonic() - t0
            try:
                response = await client.post(url, json=body, headers=headers)
            except httpx.TransportError as exc:
                registration.attempts.append(
                    Attempt(started, time.monotonic() - t0, None, type(exc).__name__)
                )
            else:
                status = response.status_code
                registration.attempts.append(
                    Attempt(
                        started,
                        time.monotonic() - t0,
                        status,
                        None,
                        response.headers.get(SERVER_HEADER),
                    )
                )
                if status == 201:
                    registration.user_id = str(response.json()["id"])
                    return
                if status not in RETRIED_STATUSES:
                    return
        finally:
            clients.put_nowait(client)
        await asyncio.sleep(BACKOFF_SECONDS * attempt)


async def send_registrations(
    url: str, rate: float, count: int, t0: float, run_id: str
) -> list[Registration]:
    """Start registration `i` at `t0 + i / rate` (monotonic clock); all records once answered."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
    registrations: list[Registration] = []
    async with AsyncExitStack() as stack:
        for _ in range(MAX_IN_FLIGHT):
            client = httpx.AsyncClient(limits=limits, timeout=ATTEMPT_TIMEOUT_SECONDS)
            clients.put_nowait(await stack.enter_async_context(client))
        tasks = await stack.enter_async_context(asyncio.TaskGroup())
        for number in range(count):
            scheduled = number / rate
            delay = t0 + scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            body = _body(run_id, number)
            registration = Registration(body["email"], scheduled)
            registrations.append(registration)
            address = _client_address(number)
            tasks.create_task(
                _register(clients, url, registration, body, t0, client_address=address)
            )
    return registrations
