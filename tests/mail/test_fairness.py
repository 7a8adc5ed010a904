"""A flood from one client address does not starve another address's confirmation email."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from index import create_app
from mail.worker import MailWorker
from tests.support.app_client import SettingsFactory
from tests.support.mail import wait_for_async
from tests.support.payloads import registration

pytestmark = pytest.mark.anyio

FLOOD = 1000


def count_emails(directory: Path) -> int:
    return len(list(directory.glob("*.eml")))


async def test_a_registration_from_another_address_is_emailed_within_10_s_of_a_queued_flood(
    make_settings: SettingsFactory, fresh_database: str
) -> None:
    settings = make_settings(db_name=fresh_database)  # local mode: .eml files, MAIL_RATE 14
    app = create_app(settings)

    def client_from(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    async with (
        app.router.lifespan_context(app),
        client_from("198.51.100.66") as flood,
        client_from("203.0.113.5") as applicant,
    ):
        for start in range(0, FLOOD, 25):
            answers = await asyncio.gather(
                *(flood.post("/api/register", json=registration()) for _ in range(25))
            )
            assert {a.status_code for a in answers} == {201}, start
        worker = app.state.mail
        assert isinstance(worker, MailWorker)
        started = time.monotonic()
        answer = await applicant.post("/api/register", json=registration())
        assert answer.status_code == 201
        email = Path(settings.mail_dir) / f"{answer.json()['id']}.eml"

        await wait_for_async(lambda: email.exists() or None, 10, "the applicant's email")
        waited = time.monotonic() - started
        sent = count_emails(settings.mail_dir)

    # The flood was still queued: at 14 a second, first in first out meant over a minute.
    assert sent < FLOOD / 2, sent
    assert waited < 10
