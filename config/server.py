"""How the process serves: uvicorn with the settings a task behind an ALB needs, and the
interpreter tuned for a long-running server."""

from __future__ import annotations

import errno
import gc
import logging
import signal
import socket
import time
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from config.errors import ConfigError
from config.settings import Settings

logger = logging.getLogger("schoolapp.server")
HOST = "0.0.0.0"  # noqa: S104 (a container's port, reached through the ALB)

# Above the ALB's 60 s idle timeout, so the ALB, not us, closes idle connections.
KEEP_ALIVE_SECONDS = 65
# After SIGTERM, requests already on the wire are still read and answered.
DRAIN_SECONDS = 1.0
# Then in-flight requests may take this long; with the drain and the email sender's
# (at most 8 s), inside the task's stopTimeout (deploy/cloudformation.yml: 40 s).
GRACEFUL_SHUTDOWN_SECONDS = 20


class DrainingServer(uvicorn.Server):
    """uvicorn, serving on for `DRAIN_SECONDS` after SIGTERM before its graceful shutdown.

    ECS sends SIGTERM once the ALB has deregistered the task, but a keep-alive
    client may have sent a request an instant before: closing its idle-looking
    connection at once would reset that request. A second signal, or SIGINT
    (Ctrl-C), stops at once as uvicorn does.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._drain_since: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Start draining on the first SIGTERM; anything else as uvicorn does."""
        if sig == signal.SIGTERM and self._drain_since is None:
            self._drain_since = time.monotonic()
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        """Every 0.1 s: end the drain, then shut down as for the signal received."""
        drain_since = self._drain_since
        if (
            drain_since is not None
            and not self.should_exit
            and time.monotonic() - drain_since >= DRAIN_SECONDS
        ):
            super().handle_exit(signal.SIGTERM, None)
        return await super().on_tick(counter)


def listen(settings: Settings) -> socket.socket:
    """The listening socket on PORT, bound before anything touches the database.

    ConfigError (one line, no database work done) when the port cannot be had.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, settings.port))
    except OSError as exc:
        sock.close()
        why = "in use by another process" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ConfigError("PORT", f"cannot listen on port {settings.port}: {why}") from None
    return sock


def serve(app: ASGIApp, settings: Settings, sock: socket.socket) -> None:
    """Serve `app` on `sock` (from `listen`) until SIGTERM has been drained or SIGINT.

    Ctrl-C (SIGINT) is a deliberate stop: after the same shutdown it returns
    normally, without the KeyboardInterrupt uvicorn raises again on its way out.
    """
    config = uvicorn.Config(
        app,
        host=HOST,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        # The client and scheme come from routes/forwarded.py, which believes only
        # TRUSTED_PROXIES; uvicorn must not rewrite them from a client-written header.
        proxy_headers=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
        # Beyond this many connections and requests at once, uvicorn answers 503 itself.
        limit_concurrency=settings.max_concurrency,
    )
    logger.info("serving on http://%s:%d (Ctrl-C to stop)", HOST, settings.port)
    try:
        DrainingServer(config).run(sockets=[sock])
    except KeyboardInterrupt:
        logger.info("stopped (Ctrl-C)")


# A registration allocates a few hundred container objects; at CPython's default
# (700) the young generation is collected every few requests. Measured under wrk,
# this threshold saves CPU on every registration (docs/performance.md).
YOUNG_GENERATION_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Freeze what start-up allocated and collect the young generation less often.

    Modules, settings and the app live as long as the process: frozen, they are
    never scanned again. Reference cycles are still collected, just in larger
    batches.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
