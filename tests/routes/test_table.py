"""The route table: the staff API is exactly the routes under STAFF_PATH_PREFIXES."""

from __future__ import annotations

import uuid

import httpx
import pytest
from starlette.routing import Route

from config.settings import Settings
from index import create_app
from routes.table import STAFF_PATH_PREFIXES
from tests.support.app_client import serve

pytestmark = pytest.mark.anyio


async def test_the_staff_prefixes_hold_every_route_that_wants_a_key_and_no_other(
    settings: Settings,
) -> None:
    routes = [route for route in create_app(settings).routes if isinstance(route, Route)]
    async with serve(settings) as client:
        for route in routes:
            (method,) = (route.methods or set()) - {"HEAD"}
            path = route.path_format.format(id=uuid.uuid4())
            response = await client.request(method, path)
            wants_a_key = response.status_code == 401
            assert wants_a_key == path.startswith(STAFF_PATH_PREFIXES), (method, path)
    assert sum(r.path.startswith(STAFF_PATH_PREFIXES) for r in routes) == 7


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        # Paths are exact: no redirect (it would be built from the Host header).
        ("GET", "/api/registrations/", 404),
        ("GET", "/api/registrationsx", 404),
        ("GET", "/api/registrations/not-a-uuid", 404),
        ("DELETE", "/api/registrations/stats", 405),
        ("POST", "/api/audit", 405),
    ],
)
async def test_beside_the_staff_routes_is_a_404_or_a_405(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path)
    assert response.status_code == status


@pytest.mark.parametrize("path", ["/api/programs/", "/api/register/", "/docs/"])
async def test_a_trailing_slash_is_a_404_never_a_redirect_to_the_host_header(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, headers={"Host": "evil.example"})
    assert response.status_code == 404
    assert "location" not in response.headers
