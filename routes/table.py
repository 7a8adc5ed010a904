"""Every route the service answers, in one screen.

A route's name is its OpenAPI operationId: controllers/docs.py documents it by that name.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route

from controllers.console import CONSOLE_PATH, ConsoleFiles, page
from controllers.docs import ASSETS_PATH, DocsController
from controllers.health import ReadinessController, health
from controllers.registration import ProgramsController, RegistrationController
from controllers.staff_audit import AuditController
from controllers.staff_export import ExportController
from controllers.staff_key import StaffKeyController
from controllers.staff_registrations import StaffRegistrationsController
from controllers.staff_xlsx import XlsxExportController

__all__ = ["REGISTER_PATH", "STAFF_PATH_PREFIXES", "build_routes"]

# Served before routing for POST (routes/edge.py); the route documents it and answers the rest.
REGISTER_PATH = "/api/register"
_REGISTRATIONS = "/api/registrations"
_AUDIT = "/api/audit"
_STAFF_KEY = "/api/staff/key"
# The staff API is every path under these and nothing else: those routes answer only to a
# staff key, get CORS only from STAFF_CORS_ORIGINS, and are never cached (routes/edge.py).
STAFF_PATH_PREFIXES = (_REGISTRATIONS, _AUDIT, _STAFF_KEY)


def _staff_routes(
    staff: StaffRegistrationsController,
    export: ExportController,
    xlsx: XlsxExportController,
    audit: AuditController,
    key: StaffKeyController,
) -> list[BaseRoute]:
    # Not a Mount: one at /api/registrations cannot answer /api/registrations itself.
    return [
        Route(_STAFF_KEY, key.show, methods=["GET"], name="staffKey"),
        Route(_REGISTRATIONS, staff.list, methods=["GET"], name="listRegistrations"),
        Route(f"{_REGISTRATIONS}.csv", export.export, methods=["GET"], name="exportRegistrations"),
        Route(f"{_REGISTRATIONS}.xlsx", xlsx.export, methods=["GET"], name="exportSpreadsheet"),
        Route(f"{_REGISTRATIONS}/stats", staff.stats, methods=["GET"], name="registrationStats"),
        Route(
            f"{_REGISTRATIONS}/{{id:uuid}}",
            staff.delete,
            methods=["DELETE"],
            name="deleteRegistration",
        ),
        Route(_AUDIT, audit.list, methods=["GET"], name="auditTrail"),
    ]


def build_routes(
    *,
    registration: RegistrationController,
    readiness: ReadinessController,
    programs: ProgramsController,
    docs: DocsController,
    staff: StaffRegistrationsController,
    export: ExportController,
    xlsx: XlsxExportController,
    audit: AuditController,
    key: StaffKeyController,
) -> list[BaseRoute]:
    """The route table; anything else is a JSON 404, a wrong method a JSON 405."""
    return [
        # GET /health and POST /api/register are served before routing (routes/edge.py).
        Route("/health", health, methods=["GET"], name="health"),
        Route("/health/ready", readiness.ready, methods=["GET"], name="ready"),
        Route(REGISTER_PATH, registration.register, methods=["POST"], name="register"),
        Route("/api/programs", programs.list, methods=["GET"], name="programs"),
        *_staff_routes(staff, export, xlsx, audit, key),
        Route("/openapi.json", docs.openapi, methods=["GET"], name="openapi"),
        Route("/docs", docs.page, methods=["GET"], name="docs"),
        # Only the files the page loads (controllers/docs.py), not a folder.
        Mount(
            ASSETS_PATH,
            routes=[Route("/{name}", docs.asset, methods=["GET"], include_in_schema=False)],
        ),
        # The staff console: files for a browser, not API operations (controllers/docs.py).
        Route(CONSOLE_PATH, page, methods=["GET"], name="console"),
        Mount(CONSOLE_PATH, ConsoleFiles(), name="consoleFiles"),
    ]
