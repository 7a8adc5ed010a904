"""The schoolapp API: `create_app(settings)` builds it, `python index.py` serves it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp

from config.credentials import CredentialsSource, credentials_source, migration_credentials
from config.errors import ConfigError, CredentialsRejected, DatabaseUnavailable
from config.log import setup_logging
from config.metrics import METRICS, MetricsFlusher
from config.server import listen, serve, tune_garbage_collector
from config.settings import Settings, load_settings
from controllers.docs import DocsController
from controllers.error_responses import EXCEPTION_HANDLERS
from controllers.health import ReadinessController
from controllers.rate_limits import RegistrationLimits
from controllers.registration import ProgramsController, RegistrationController
from controllers.staff_audit import AuditController
from controllers.staff_auth import StaffAuth
from controllers.staff_export import ExportController
from controllers.staff_key import StaffKeyController
from controllers.staff_registrations import StaffRegistrationsController
from controllers.staff_xlsx import XlsxExportController
from mail import build_mail_worker
from models import mail_outbox
from models.db import Database
from models.migrations.startup import StartupMigrations
from models.schema import create_database
from routes.cors import CORSByPath
from routes.edge import AccessLog, Edge, HotPaths
from routes.forwarded import TrustedProxies
from routes.table import REGISTER_PATH, STAFF_PATH_PREFIXES, build_routes

VERSION = "1.0.0"
MAX_BODY_BYTES = 16 * 1024


def create_app(settings: Settings, credentials: CredentialsSource | None = None) -> Starlette:
    """Build the ASGI app; the database pool opens in its lifespan and closes after.

    So does the confirmation-email sender (unless MAIL_BACKEND is off): it stops
    before the pool closes, after the last request has been answered. The metrics'
    writer (unless METRICS_INTERVAL_SECONDS is 0) writes its last line after it.
    """
    credentials = credentials or credentials_source(settings)
    database = Database(
        settings,
        credentials,
        # As the migration user when DB_MIGRATION_SECRET_ARN names one.
        create_tables=StartupMigrations(migration_credentials(settings, credentials), settings),
        # Only a local run creates its database; in AWS it is provisioned.
        create_database=None if settings.aws_mode else create_database,
    )

    mail = build_mail_worker(database, settings)
    metrics = metrics_flusher(settings, database)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await database.start()
        if mail is not None:
            mail.start()
        if metrics is not None:
            metrics.start()
        yield
        if mail is not None:
            await mail.stop()
        if metrics is not None:
            await metrics.stop()
        await database.close()

    middleware = [
        Middleware(
            Edge,
            access_log=AccessLog(settings),
            max_body_bytes=MAX_BODY_BYTES,
            proxies=TrustedProxies(settings.trusted_proxies),
            body_timeout=settings.body_timeout_seconds,
            no_store_prefixes=STAFF_PATH_PREFIXES,
        ),
    ]
    if settings.cors_origins or settings.staff_cors_origins:
        middleware.append(
            Middleware(
                CORSByPath,
                public_origins=settings.cors_origins,
                staff_origins=settings.staff_cors_origins,
                staff_prefixes=STAFF_PATH_PREFIXES,
            )
        )
    staff_auth = StaffAuth(database)
    program_values = [p.value for p in settings.programs]
    registration = RegistrationController(
        database,
        program_values,
        replay_window=timedelta(seconds=settings.replay_window_seconds),
        limits=RegistrationLimits(settings.rate_limit_register, settings.rate_limit_mismatch),
        on_registered=mail.registered if mail is not None else None,
    )
    middleware.append(
        Middleware(
            HotPaths,
            register_path=REGISTER_PATH,
            register=registration.register,
            exception_handlers=EXCEPTION_HANDLERS,
        )
    )
    routes = build_routes(
        registration=registration,
        readiness=ReadinessController(database),
        programs=ProgramsController(settings.programs),
        docs=DocsController(settings.programs, VERSION),
        staff=StaffRegistrationsController(database, staff_auth, program_values),
        export=ExportController(database, staff_auth, program_values),
        xlsx=XlsxExportController(database, staff_auth, settings.programs, settings.school_zone),
        audit=AuditController(database, staff_auth),
        key=StaffKeyController(database, staff_auth),
    )
    app = _App(
        routes=routes,
        middleware=middleware,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    # Paths are exact: a redirect to the other spelling would be built from the Host header.
    app.router.redirect_slashes = False
    # The pool's sessions, for checks that must run on them (the TLS tests read
    # Ssl_cipher there: only the service's own session can tell it is encrypted).
    app.state.database = database
    app.state.mail = mail
    app.state.metrics = metrics
    return app


class _App(Starlette):
    """Starlette without its outermost ServerErrorMiddleware: `Edge` answers every 500
    itself (with the request id that one's would lack), so it would only cost a layer."""

    def build_middleware_stack(self) -> ASGIApp:
        """The user middleware around ExceptionMiddleware around the router."""
        handlers = {k: v for k, v in self.exception_handlers.items() if k not in (500, Exception)}
        app: ASGIApp = ExceptionMiddleware(self.router, handlers=handlers, debug=self.debug)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


def metrics_flusher(settings: Settings, database: Database) -> MetricsFlusher | None:
    """The EMF writer, with the outbox's backlog as its gauges; None when metrics are off."""
    METRICS.enabled = settings.metrics_interval_seconds > 0
    if not METRICS.enabled:
        return None

    async def outbox_gauges() -> dict[str, float]:
        pending, oldest_seconds = await mail_outbox.backlog(database)
        return {"OutboxPending": pending, "OutboxOldestPendingSeconds": oldest_seconds}

    return MetricsFlusher(
        settings.metrics_service, settings.metrics_interval_seconds, outbox_gauges
    )


def main() -> None:
    """Serve on PORT; a configuration that cannot work exits at once with one line.

    With arguments, run a staff command instead (`python index.py migrate`, see --help).
    """
    if len(sys.argv) > 1:
        from cli import run  # noqa: PLC0415 (the server never needs it)

        raise SystemExit(run(sys.argv[1:]))
    try:
        settings = load_settings()
        setup_logging(settings)
        credentials = credentials_source(settings)
        credentials.current()  # fail now, not on the first request
        sock = listen(settings)  # before any database work: a port in use stops here
        app = create_app(settings, credentials)  # reads the email templates
        if not settings.aws_mode:
            check_local_login(settings, credentials)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    tune_garbage_collector()
    serve(app, settings, sock)


def check_local_login(settings: Settings, credentials: CredentialsSource) -> None:
    """ConfigError when the local database refuses the login: nothing will change that.

    In AWS mode a refusal may be a password rotation, which the pool recovers from
    by reading the secret again, so only local mode stops. A database that is down
    is no configuration error: the service starts and connects when it is back.
    """

    async def login() -> None:
        database = Database(settings, credentials, create_database=create_database)
        try:
            await database.open()
        finally:
            await database.close()

    try:
        asyncio.run(login())
    except CredentialsRejected as exc:
        raise ConfigError("DB_USER/DB_PASSWORD", f"the database refused them: {exc}") from None
    except DatabaseUnavailable:
        return  # the app's start logs it, then retries


if __name__ == "__main__":
    main()
