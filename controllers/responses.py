"""JSON responses rendered with orjson, the service's only body format."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JsonResponse(Response):
    """`application/json`, rendered with orjson (datetimes as ISO 8601)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialise `content` to JSON bytes."""
        return orjson.dumps(content)
