"""Every route the service answers, in one screen.

A route's name is its OpenAPI operationId: controllers/docs.py documents it by that name.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from controllers.docs import ASSETS_PATH, DocsController
from controllers.health import ReadinessController, health
from controllers.registration import ProgramsController, RegistrationController
from controllers.staff_audit import AuditController
from controllers.staff_export import ExportController
from controllers.staff_registrations import StaffRegistrationsController

__all__ = ["STAFF_PATH_PREFIXES", "build_routes"]

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
        # GET is answered before routing (routes/edge.py).
        Route("/health", health, methods=["GET"], name="health"),
        Route("/health/ready", readiness.ready, methods=["GET"], name="ready"),
        Route("/api/register", registration.register, methods=["POST"], name="register"),
        Route("/api/programs", programs.list, methods=["GET"], name="programs"),
        Route("/api/registrations", staff.list, methods=["GET"], name="listRegistrations"),
        Route("/api/registrations.csv", export.export, methods=["GET"], name="exportRegistrations"),
        Route("/api/registrations/stats", staff.stats, methods=["GET"], name="registrationStats"),
        Route(
            "/api/registrations/{id:uuid}",
            staff.delete,
            methods=["DELETE"],
            name="deleteRegistration",
        ),
        Route("/api/audit", audit.list, methods=["GET"], name="auditTrail"),
        Route("/openapi.json", docs.openapi, methods=["GET"], name="openapi"),
        Route("/docs", docs.page, methods=["GET"], name="docs"),
        Mount(ASSETS_PATH, StaticFiles(directory=swagger_ui_path)),
    ]
