"""Every route the service answers, in one screen."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from controllers.console import CONSOLE_PATH, ConsoleFiles, page
from controllers.docs import ASSETS_PATH, DocsController
from controllers.health import ReadinessController, health
from controllers.programs import ProgramsController
from controllers.registration import RegistrationController
from controllers.staff_audit import AuditController
from controllers.staff_export import ExportController
from controllers.staff_registrations import StaffRegistrationsController

# Paths that answer only to a staff key, and get CORS only from STAFF_CORS_ORIGINS.
STAFF_PATH_PREFIXES = ("/api/registrations", "/api/audit")


def build_routes(
    *,
    registration: RegistrationController,
    readiness: ReadinessController,
    programs: ProgramsController,
    docs: DocsController,
    staff: StaffRegistrationsController,
    export: ExportController,
    audit: AuditController,
) -> list[BaseRoute]:
    """The route table; anything else is a JSON 404, a wrong method a JSON 405."""
    return [
        # GET is answered before routing (controllers/middleware/health_probe.py).
        Route("/health", health, methods=["GET"]),
        Route("/health/ready", readiness.ready, methods=["GET"]),
        Route("/api/register", registration.register, methods=["POST"]),
        Route("/api/programs", programs.list, methods=["GET"]),
        Route("/api/registrations", staff.list, methods=["GET"]),
        Route("/api/registrations.csv", export.export, methods=["GET"]),
        Route("/api/registrations/stats", staff.stats, methods=["GET"]),
        Route("/api/registrations/{id:uuid}", staff.delete, methods=["DELETE"]),
        Route("/api/audit", audit.list, methods=["GET"]),
        Route("/openapi.json", docs.openapi, methods=["GET"]),
        Route("/docs", docs.page, methods=["GET"]),
        Mount(ASSETS_PATH, StaticFiles(directory=swagger_ui_path)),
        Route(CONSOLE_PATH, page, methods=["GET"]),
        Mount(CONSOLE_PATH, ConsoleFiles()),
    ]
