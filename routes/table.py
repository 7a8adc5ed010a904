"""Every route the service answers, in one screen."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from controllers.docs import ASSETS_PATH, DocsController
from controllers.health import ReadinessController, health
from controllers.programs import ProgramsController
from controllers.registration import RegistrationController

# Paths that answer only to a staff key, and get CORS only from STAFF_CORS_ORIGINS.
STAFF_PATH_PREFIXES = ("/api/registrations", "/api/audit")


def build_routes(
    *,
    registration: RegistrationController,
    readiness: ReadinessController,
    programs: ProgramsController,
    docs: DocsController,
) -> list[BaseRoute]:
    """The route table; anything else is a JSON 404, a wrong method a JSON 405."""
    return [
        Route("/health", health, methods=["GET"]),
        Route("/health/ready", readiness.ready, methods=["GET"]),
        Route("/api/register", registration.register, methods=["POST"]),
        Route("/api/programs", programs.list, methods=["GET"]),
        Route("/openapi.json", docs.openapi, methods=["GET"]),
        Route("/docs", docs.page, methods=["GET"]),
        Mount(ASSETS_PATH, StaticFiles(directory=swagger_ui_path)),
    ]
