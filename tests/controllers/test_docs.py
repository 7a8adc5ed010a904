"""GET /openapi.json and GET /docs: the document of the app's own routes, and Swagger UI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import jsonschema
import pytest
from starlette.responses import Response
from starlette.routing import Route
from starlette.schemas import SchemaGenerator

import controllers.docs
from config.settings import DEFAULT_PROGRAMS, Settings
from controllers.docs import NOT_API, openapi_document
from index import VERSION, create_app
from tests.support.payloads import registration

pytestmark = pytest.mark.anyio


async def test_the_documented_paths_and_methods_are_the_apps_routes(settings: Settings) -> None:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        document = (await client.get("/openapi.json")).json()

    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    # Starlette's own reading of the route table (converters dropped, HEAD left out),
    # without the console's page, which is left out on purpose (NOT_API).
    api = [r for r in app.routes if not (isinstance(r, Route) and r.name in NOT_API)]
    routed = {(e.http_method, e.path) for e in SchemaGenerator({}).get_endpoints(api)}
    assert documented == routed
    assert ("get", "/staff") not in documented
    names = {route.name for route in api if isinstance(route, Route)}
    operation_ids = [
        op["operationId"] for item in document["paths"].values() for op in item.values()
    ]
    assert sorted(operation_ids) == sorted(names)


def test_a_route_without_an_operation_fails_the_document() -> None:
    async def endpoint(request: object) -> Response:
        return Response()

    routes = [Route("/undocumented", endpoint, methods=["GET"])]
    with pytest.raises(LookupError, match="'endpoint' \\(/undocumented\\) has no operation"):
        openapi_document(routes, DEFAULT_PROGRAMS, VERSION)


async def test_answers_match_the_documented_schemas(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    def check(path: str, method: str, response: httpx.Response) -> None:
        spec = document["paths"][path][method]["responses"][str(response.status_code)]
        schema = spec["content"]["application/json"]["schema"]
        jsonschema.validate(response.json(), {**schema, "components": document["components"]})

    body = registration()
    check("/api/register", "post", await client.post("/api/register", json=body))
    check("/api/register", "post", await client.post("/api/register", json=body))
    check("/api/register", "post", await client.post("/api/register", json={"name": 1}))
    check("/api/register", "post", await client.post("/api/register", content=b"{"))
    check("/health", "get", await client.get("/health"))
    check("/health/ready", "get", await client.get("/health/ready"))
    check("/api/programs", "get", await client.get("/api/programs"))


async def test_the_docs_page_is_served_with_its_own_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "http" not in page.text.split("<body>")[1]  # nothing fetched from elsewhere
    assert "<script>" not in page.text  # no inline script: the CSP allows none
    init = await client.get("/docs/assets/swagger-init.js")
    assert init.status_code == 200
    assert '"/openapi.json"' in init.text
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
        response = await client.get(asset)
        assert response.status_code == 200
        assert len(response.content) > 10_000


async def test_the_docs_page_forbids_framing_and_inline_script(client: httpx.AsyncClient) -> None:
    csp = (await client.get("/docs")).headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'none'"


@pytest.mark.parametrize(
    "path",
    [
        "/docs/assets/index.html",  # a second Swagger UI, with a URL bar and the petstore
        "/docs/assets/oauth2-redirect.html",
        "/docs/assets/swagger-ui-bundle.js.map",
        "/docs/assets/swagger-ui.css.map",
        "/docs/assets/swagger-initializer.js",
        "/docs/assets/",
    ],
)
async def test_only_the_files_the_page_loads_are_served(
    client: httpx.AsyncClient, path: str
) -> None:
    assert (await client.get(path)).status_code == 404


def test_the_vendored_swagger_ui_is_5_and_matches_its_checksums() -> None:
    folder = Path(controllers.docs.__file__).parent / "swagger_ui"
    assert (folder / "VERSION").read_text().startswith("swagger-ui-dist 5.")
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
