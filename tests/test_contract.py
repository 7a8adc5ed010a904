"""Routes, headers, CORS and error shapes every client relies on."""

from __future__ import annotations

import httpx
import pytest

from config.settings import Program
from tests.support.app_client import CORS_ORIGIN, SettingsFactory, serve
from tests.support.payloads import registration

pytestmark = pytest.mark.anyio


async def test_health_is_ok_and_shallow(make_settings: SettingsFactory) -> None:
    # Pointed at a port nothing listens on: /health must not care.
    async with serve(make_settings(db_port=1)) as client:
        response = await client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "OK"}
        assert response.headers["content-type"] == "application/json"


async def test_the_probe_answers_get_as_the_route_answers_head(
    client: httpx.AsyncClient,
) -> None:
    # GET /health is answered before routing, HEAD by the route: the same answer.
    get, head = await client.get("/health"), await client.head("/health")
    assert (get.status_code, head.status_code) == (200, 200)
    for header in ("content-type", "content-length", "x-content-type-options"):
        assert get.headers[header] == head.headers[header]
    assert get.content == b'{"status":"OK"}'
    assert get.headers["x-request-id"] != head.headers["x-request-id"]


async def test_ready_is_ok_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "OK", "database": "up"}


async def test_ready_is_503_when_the_database_is_down(make_settings: SettingsFactory) -> None:
    async with serve(make_settings(db_port=1)) as client:
        response = await client.get("/health/ready")
        assert response.status_code == 503
        assert response.json() == {"status": "UNAVAILABLE", "database": "down"}


async def test_programs_are_the_defaults_in_order(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/programs")
    assert response.status_code == 200
    assert response.json() == {
        "programs": [
            {"value": "computer-science", "label": "Computer Science"},
            {"value": "engineering", "label": "Engineering"},
            {"value": "business", "label": "Business"},
            {"value": "arts", "label": "Arts"},
            {"value": "medicine", "label": "Medicine"},
        ]
    }


async def test_configured_programs_replace_the_defaults(make_settings: SettingsFactory) -> None:
    programs = (Program("nursing", "Nursing"), Program("law", "Law School"))
    async with serve(make_settings(programs=programs)) as client:
        listed = (await client.get("/api/programs")).json()["programs"]
        assert listed == [
            {"value": "nursing", "label": "Nursing"},
            {"value": "law", "label": "Law School"},
        ]
        refused = await client.post("/api/register", json=registration(program="arts"))
        assert refused.json()["error"] == "Invalid program. Must be one of: nursing, law"
        assert (
            await client.post("/api/register", json=registration(program="law"))
        ).status_code == 201


@pytest.mark.parametrize("path", ["/", "/api", "/api/registerx", "/users", "/docs/assets/nope.js"])
async def test_unknown_paths_are_a_json_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/api/register", {"POST"}),
        ("PUT", "/api/register", {"POST"}),
        ("DELETE", "/health", {"GET", "HEAD"}),
        ("POST", "/api/programs", {"GET", "HEAD"}),
        ("POST", "/health/ready", {"GET", "HEAD"}),
    ],
)
async def test_a_wrong_method_is_a_json_405_with_allow(
    client: httpx.AsyncClient, method: str, path: str, allow: set[str]
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.json() == {"error": "Method not allowed"}
    assert {m.strip() for m in response.headers["allow"].split(",")} == allow


async def test_every_response_has_nosniff_and_a_request_id(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/health"),
        await client.get("/nope"),
        await client.post("/api/register", content=b"x"),
        await client.post("/api/register", json=registration()),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert len(response.headers["x-request-id"]) >= 16
        assert response.headers["content-type"].startswith("application/json")


async def test_a_sane_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "abc-123.XYZ"})
    assert response.headers["x-request-id"] == "abc-123.XYZ"


@pytest.mark.parametrize("incoming", ["a" * 200, "bad id", "x\u00e9", "<script>", ""])
async def test_an_odd_request_id_is_replaced(client: httpx.AsyncClient, incoming: str) -> None:
    response = await client.get("/health", headers={b"X-Request-ID": incoming.encode()})
    assert response.headers["x-request-id"] != incoming
    assert len(response.headers["x-request-id"]) == 32


async def test_generated_request_ids_differ(client: httpx.AsyncClient) -> None:
    ids = {(await client.get("/health")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


async def test_an_allowed_origin_gets_cors_headers(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/register", json=registration(), headers={"Origin": CORS_ORIGIN}
    )
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


async def test_an_allowed_origin_gets_a_working_preflight(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/register",
        headers={
            "Origin": CORS_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"].lower()


async def test_another_origin_gets_no_cors_headers(client: httpx.AsyncClient) -> None:
    origin = {"Origin": "https://evil.example.com"}
    simple = await client.post("/api/register", json=registration(), headers=origin)
    preflight = await client.options(
        "/api/register",
        headers={**origin, "Access-Control-Request-Method": "POST"},
    )
    for response in (simple, preflight):
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    assert preflight.headers["content-type"] == "application/json"
    assert "error" in preflight.json()


async def test_a_wildcard_allows_any_origin(make_settings: SettingsFactory) -> None:
    async with serve(make_settings(cors_origins=("*",))) as client:
        response = await client.get("/health", headers={"Origin": "https://any.example"})
        assert response.headers["access-control-allow-origin"] == "*"


async def test_no_cors_origins_means_no_cors_headers(make_settings: SettingsFactory) -> None:
    async with serve(make_settings(cors_origins=())) as client:
        response = await client.get("/health", headers={"Origin": CORS_ORIGIN})
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]


async def test_openapi_documents_every_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/health",
        "/health/ready",
        "/api/register",
        "/api/programs",
        "/openapi.json",
        "/docs",
        "/api/registrations",
        "/api/registrations.csv",
        "/api/registrations.xlsx",
        "/api/registrations/stats",
        "/api/registrations/{id}",
        "/api/audit",
        "/api/staff/key",
    }
    form = document["components"]["schemas"]["RegistrationForm"]
    assert set(form["required"]) == {"name", "email", "phone", "program"}
    assert form["properties"]["program"]["enum"] == [
        "computer-science",
        "engineering",
        "business",
        "arts",
        "medicine",
    ]
