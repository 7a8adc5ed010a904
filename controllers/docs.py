"""GET /openapi.json and GET /docs (Swagger UI served from its package, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from config.programs import Program
from controllers.openapi import openapi_document

ASSETS_PATH = "/docs/assets"

_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>schoolapp API</title>
  <link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
  <script>SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui"}});</script>
</body>
</html>
"""


class DocsController:
    """Serves the OpenAPI document, rendered once, and the page that shows it."""

    def __init__(self, programs: Sequence[Program], version: str) -> None:
        self._document = orjson.dumps(openapi_document(programs, version))

    async def openapi(self, request: Request) -> Response:
        """200 with the OpenAPI 3 document."""
        return Response(self._document, media_type="application/json")

    async def page(self, request: Request) -> Response:
        """200 with the Swagger UI page."""
        return HTMLResponse(_PAGE)
