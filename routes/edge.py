"""The edge every request passes, in one ASGI layer: its client (routes/forwarded.py),
its id, the headers every answer carries, the body limit, the access line, and the
500 for what nobody foresaw.

One layer rather than one each: every layer wraps `send` and `receive` again on
every request. The access line is written straight to stdout rather than through
`logging`, whose record, filters, lock and formatter cost about five times as much
a line (docs/performance.md).

`HotPaths` answers the ALB's `GET /health` and serves `POST /api/register` before
routing; it sits inside CORS, so their answers carry what every answer carries.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TextIO

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.errors import BodyTimeout, BodyTooLarge
from config.log import access_fields_var, line_format, mask_path, render_line, request_id_var
from config.metrics import METRICS
from config.settings import Settings
from controllers.error_responses import unexpected_error
from controllers.health import HEALTH_BODY
from routes.forwarded import TrustedProxies, client_address

LOGGER_NAME = "schoolapp.access"
REQUEST_ID_HEADER = "X-Request-ID"
# Long or odd ids would let a client forge or bloat log lines.
_SANE_ID = re.compile(rb"[A-Za-z0-9._:+=/-]{1,128}")
# Headers every answer carries, whatever produced it: no body is ever sniffed as HTML.
_EVERY_ANSWER = ((b"x-content-type-options", b"nosniff"),)
_STAFF_ANSWER = (*_EVERY_ANSWER, (b"cache-control", b"no-store"))
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
_SET_HERE = frozenset({b"x-request-id", b"x-content-type-options", _HSTS[0]})
_SET_HERE_STAFF = _SET_HERE | {b"cache-control"}
# The ALB probes every few seconds per task: a line each would bury the rest.
_QUIET = frozenset({("/health", 200)})
_HEALTH_PATH = "/health"
# More digits than any length we would read (int() refuses over 4,300 of them).
_LENGTH_DIGITS = 18
# What controllers/error_responses.py maps an exception class to.
ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


class AccessLog:
    """Writes access lines in the configured format, unless LOG_LEVEL is above info."""

    def __init__(self, settings: Settings, stream: TextIO | None = None) -> None:
        self._enabled = settings.log_level in ("debug", "info")
        self._log_format = line_format(settings)
        self._stream = stream

    def write(self, message: str, fields: dict[str, object]) -> None:
        """Write one line: `message` and `fields`, with the time and the request id."""
        if not self._enabled:
            return
        line = render_line(
            self._log_format,
            time.time(),
            "INFO",
            LOGGER_NAME,
            message,
            fields=fields,
            request_id=request_id_var.get(),
        )
        # Looked up on each write, so a redirected stdout (tests, tools) is honoured.
        stream = self._stream or sys.stdout
        stream.write(line + "\n")
        stream.flush()


class Edge:
    """Client, request id, common headers, body limit, access line and the catch-all 500."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: AccessLog,
        max_body_bytes: int,
        proxies: TrustedProxies | None = None,
        body_timeout: float = 15.0,
        no_store_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.max_body_bytes = max_body_bytes
        self.proxies = proxies or TrustedProxies(())
        self.body_timeout = body_timeout
        self.no_store_prefixes = no_store_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with its id set, its body bounded, and log how it went."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        self.proxies.resolve(scope)
        incoming, declared = _read_headers(scope)
        # 128 random bits in hex, as uuid4().hex has, at a fifth of its cost (docs/performance.md).
        request_id = incoming or os.urandom(16).hex()
        id_token = request_id_var.set(request_id)
        fields: dict[str, object] = {}
        fields_token = access_fields_var.set(fields)
        id_header = (b"x-request-id", request_id.encode("latin-1"))
        status = 0
        received = 0
        max_bytes = self.max_body_bytes
        body = _BodyDeadline(self.body_timeout)
        every_answer, set_here = _headers_for(scope, self.no_store_prefixes)

        async def edge_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() not in set_here]
                headers.append(id_header)
                headers.extend(every_answer)
                message["headers"] = headers
            await send(message)

        async def edge_receive() -> Message:
            nonlocal received
            # A declared length over the limit is refused before a byte is read.
            if declared is not None and declared > max_bytes:
                raise BodyTooLarge
            if body.done:
                return await receive()
            message = await body.receive(receive)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, edge_receive, edge_send)
        except Exception as exc:
            if status:
                raise  # the answer has begun: nothing to do but let the server close it
            # Answered here: Starlette's ServerErrorMiddleware, outside every user middleware
            # (its 500 would lack X-Request-ID), is left out of the stack (index.py).
            await unexpected_error(exc)(scope, edge_receive, edge_send)
        finally:
            access_fields_var.reset(fields_token)
            body.cancel()
            if (scope["path"], status) not in _QUIET:
                self._account(scope, status, time.perf_counter() - started, fields)
            request_id_var.reset(id_token)

    def _account(
        self, scope: Scope, status: int, seconds: float, fields: dict[str, object]
    ) -> None:
        """The request's metrics and its access line."""
        METRICS.answered(status, seconds)
        # A routed path holds nothing personal (ids only); any other may hold anything.
        path = scope["path"] if "endpoint" in scope else mask_path(scope["path"])
        method = scope["method"]
        self.access_log.write(
            f"{method} {path} {status}",
            {
                "method": method,
                "path": path,
                "client": client_address(scope),
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                **fields,
            },
        )


def _headers_for(
    scope: Scope, no_store_prefixes: tuple[str, ...]
) -> tuple[tuple[tuple[bytes, bytes], ...], frozenset[bytes]]:
    """The headers this request's answer gets, and those it must not carry twice."""
    headers: tuple[tuple[bytes, bytes], ...]
    # Staff answers hold applicants' data: no browser, proxy or CDN keeps a copy.
    if scope["path"].startswith(no_store_prefixes):
        headers, set_here = _STAFF_ANSWER, _SET_HERE_STAFF
    else:
        headers, set_here = _EVERY_ANSWER, _SET_HERE
    # Over HTTPS (the ALB's X-Forwarded-Proto from a trusted proxy): browsers keep to it.
    if scope.get("scheme") == "https":
        headers = (*headers, _HSTS)
    return headers, set_here


def _read_headers(scope: Scope) -> tuple[str | None, int | None]:
    """The sane X-Request-ID, and the Content-Length when it is ASCII digits."""
    request_id: str | None = None
    length: int | None = None
    for name, value in scope["headers"]:
        # The first of a repeated header counts, as Starlette's `Headers.get` reads it.
        if name == b"x-request-id":
            if request_id is None and _SANE_ID.fullmatch(value):
                request_id = value.decode("ascii")
        elif name == b"content-length" and length is None and value.isdigit():
            digits = value.lstrip(b"0")
            length = int(digits or b"0") if len(digits) <= _LENGTH_DIGITS else sys.maxsize
    return request_id, length


class _BodyDeadline:
    """BODY_TIMEOUT_SECONDS over a request's whole body: one timer, set by the first read
    that has to wait for the body and cancelled when it has all arrived.

    On expiry the read under way is cancelled and raises BodyTimeout (408, and the
    connection closes): a client sending a byte now and then cannot hold the task.
    """

    __slots__ = ("_reader", "_seconds", "_timed_out", "_timer", "done")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._timer: asyncio.TimerHandle | None = None
        self._reader: asyncio.Task[object] | None = None
        self._timed_out = False
        self.done = False

    async def receive(self, receive: Receive) -> Message:
        """The next message of the body, or BodyTimeout once the deadline has passed."""
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._seconds, self._expire)
        self._reader = asyncio.current_task()
        try:
            message = await receive()
        except asyncio.CancelledError:
            if not self._timed_out or self._reader is None:
                raise
            self._reader.uncancel()
            raise BodyTimeout from None
        finally:
            self._reader = None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.done = True
            self.cancel()
        return message

    def cancel(self) -> None:
        """Stop the timer (the body is complete, or the request is over)."""
        if self._timer is not None:
            self._timer.cancel()

    def _expire(self) -> None:
        if self._reader is not None and not self.done:
            self._timed_out = True
            self._reader.cancel()


class HotPaths:
    """Answers `GET /health` with 200 `{"status":"OK"}` and serves `POST /api/register`
    before routing; passes the rest on.

    The probe's answer never changes, so it needs none of Starlette's exception
    middleware, the router's matching, a `Request` or a `Response`. A registration
    goes straight to its handler, its errors turned into answers by the same
    handlers (controllers/error_responses.py) Starlette's exception middleware
    would call: the router's match and the exception wrappers were about 5 % of a
    registration's CPU (docs/performance.md). The route table keeps both
    paths for their other methods (HEAD, a wrong method's 405) and the OpenAPI
    document.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        register_path: str,
        register: Callable[[Request], Awaitable[Response]],
        exception_handlers: Mapping[type[Exception], ExceptionHandler],
    ) -> None:
        self.app = app
        self.register_path = register_path
        self.register = register
        self.exception_handlers = exception_handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the probe, serve a registration, or serve the request as usual."""
        if scope["type"] == "http":
            path = scope["path"]
            if path == _HEALTH_PATH and scope["method"] == "GET":
                await send(_health_start())
                await send({"type": "http.response.body", "body": HEALTH_BODY})
                return
            if path == self.register_path and scope["method"] == "POST":
                # What the router's match would have set (the access line reads "endpoint").
                scope["endpoint"] = self.register
                scope["path_params"] = {}
                request = Request(scope, receive, send)
                try:
                    response = await self.register(request)
                except Exception as exc:
                    handler = _handler_for(self.exception_handlers, exc)
                    if handler is None:
                        raise
                    response = await handler(request, exc)
                    # Reused exception instances would pile up tracebacks across requests.
                    exc.__traceback__ = None
                # Outside the `try`: sending a built answer is two `send`s, which raise
                # none of the exceptions the handlers answer.
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _handler_for(
    handlers: Mapping[type[Exception], ExceptionHandler], exc: Exception
) -> ExceptionHandler | None:
    """The handler of the nearest class of `exc` that has one, as Starlette looks it up."""
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            return handler
    return None


def _health_start() -> Message:
    # A new message each time: the layers outside add headers to it in place.
    return {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-length", str(len(HEALTH_BODY)).encode()),
            (b"content-type", b"application/json"),
        ],
    }
