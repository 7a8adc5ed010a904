"""GET /api/programs: the configured programs, so a form can build its select."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from starlette.requests import Request
from starlette.responses import Response

from config.programs import Program


class ProgramsController:
    """Serves the program list, rendered once: it cannot change while running."""

    def __init__(self, programs: Sequence[Program]) -> None:
        self._body = orjson.dumps(
            {"programs": [{"value": p.value, "label": p.label} for p in programs]}
        )

    async def list(self, request: Request) -> Response:
        """200 with the programs in their configured order."""
        return Response(self._body, media_type="application/json")
