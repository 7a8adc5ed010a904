"""CORS answers: a cache never serves one origin's answer to another."""

from __future__ import annotations

import pytest

from config.settings import Settings
from tests.support.app_client import CORS_ORIGIN, SettingsFactory, serve

pytestmark = pytest.mark.anyio

STAFF_ORIGIN = "https://staff-tool.example.edu"


@pytest.fixture
def cors_settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(cors_origins=(CORS_ORIGIN,), staff_cors_origins=(STAFF_ORIGIN,))


@pytest.mark.parametrize(
    ("path", "origin"),
    [
        ("/api/programs", "https://evil.example"),
        ("/api/programs", STAFF_ORIGIN),  # staff's origin, public path
        ("/api/registrations", CORS_ORIGIN),  # public origin, staff path
    ],
)
async def test_an_answer_to_a_disallowed_origin_varies_on_origin(
    cors_settings: Settings, path: str, origin: str
) -> None:
    # Without Vary, a shared cache could hand this header-less answer to an allowed origin.
    async with serve(cors_settings) as client:
        response = await client.get(path, headers={"Origin": origin})
    assert "access-control-allow-origin" not in response.headers
    assert "origin" in response.headers.get("vary", "").lower()


async def test_an_allowed_origin_still_gets_its_headers_and_vary(cors_settings: Settings) -> None:
    async with serve(cors_settings) as client:
        response = await client.get("/api/programs", headers={"Origin": CORS_ORIGIN})
    assert response.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert "origin" in response.headers["vary"].lower()
