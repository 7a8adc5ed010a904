"""The driver's failures, and waits past their deadline, as the service's own exceptions.

aiomysql has no read timeout of its own, so every wait on the server is bounded
by a `Deadline`: a whole operation by `DB_CONNECT_TIMEOUT + DB_QUERY_TIMEOUT`,
opening a new connection (its greeting included) by `DB_CONNECT_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from types import TracebackType

import pymysql

from config.errors import (
    ConnectionLost,
    CredentialsRejected,
    DatabaseUnavailable,
    DuplicateKey,
    SchoolappError,
    StatementRejected,
    UnknownDatabase,
)

ACCESS_DENIED = 1045
UNKNOWN_DATABASE = 1049
DUPLICATE_KEY = 1062
# Server errors that mean the connection itself is gone: shutdown in progress,
# connection killed (MariaDB), disconnected for inactivity (MySQL 8). Client-side
# errors (2000-2999: cannot connect, server gone away, lost connection) count too.
_SERVER_CONNECTION_ERRORS = frozenset({1053, 1927, 4031})
# What else the driver lets through when the socket fails, not the statement.
_TRANSPORT_ERRORS = (pymysql.err.InterfaceError, OSError, TimeoutError, RuntimeError)
_DRIVER_ERRORS = (pymysql.err.MySQLError, *_TRANSPORT_ERRORS)


class _DriverErrorMap:
    # A class rather than @contextmanager: a sixth of the cost, and every statement
    # passes through one (docs/performance.md).
    __slots__ = ("_mid_statement",)

    def __init__(self, *, mid_statement: bool) -> None:
        self._mid_statement = mid_statement

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None or not isinstance(exc, _DRIVER_ERRORS):
            return  # nothing failed, or not the driver (a cancellation passes as it is)
        if self._mid_statement:
            raise _statement_error(exc) from exc
        raise _connect_error(exc) from exc


_CONNECTING = _DriverErrorMap(mid_statement=False)
_MID_STATEMENT = _DriverErrorMap(mid_statement=True)


def map_driver_errors(*, mid_statement: bool = False) -> _DriverErrorMap:
    """A `with` block that raises our own exception for the driver's failures in it.

    While connecting (or setting the database up), every failure means the
    database cannot be used: `CredentialsRejected` (1045), `UnknownDatabase`
    (1049), else `DatabaseUnavailable`. Mid-statement, a broken connection is
    `ConnectionLost`; a statement the server refused leaves the connection usable
    and is `DuplicateKey` (1062) or `StatementRejected`.
    """
    return _MID_STATEMENT if mid_statement else _CONNECTING


def _connect_error(exc: BaseException) -> DatabaseUnavailable:
    code = _error_code(exc)
    if code == ACCESS_DENIED:
        return CredentialsRejected(str(exc))
    if code == UNKNOWN_DATABASE:
        return UnknownDatabase(str(exc))
    cause = exc.__cause__
    # A TLS failure is an OSError too, but our own message (models/db/tls.py) says why.
    if isinstance(cause, OSError) and not isinstance(cause, ssl.SSLError) and cause.errno:
        # The driver's own message names the host only, and says nothing of why.
        return DatabaseUnavailable(f"cannot connect: {os.strerror(cause.errno).lower()}")
    return DatabaseUnavailable(f"cannot connect or set up: {exc!r}")


def _statement_error(exc: BaseException) -> SchoolappError:
    code = _error_code(exc)
    if _connection_failed(exc, code):
        return ConnectionLost(f"connection lost during a statement: {exc!r}")
    if code == DUPLICATE_KEY:
        return DuplicateKey(code, str(exc))
    return StatementRejected(code, str(exc))


def _connection_failed(exc: BaseException, code: int | None) -> bool:
    if isinstance(exc, pymysql.err.OperationalError):
        return code is None or 2000 <= code < 3000 or code in _SERVER_CONNECTION_ERRORS
    return isinstance(exc, _TRANSPORT_ERRORS)


def _error_code(exc: BaseException) -> int | None:
    if isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int):
        return exc.args[0]
    return None


class Deadline:
    """Cancels the block after `seconds` and raises DatabaseUnavailable(`message`).

    One timer for the block, cancelled when it ends: what `asyncio.timeout` does,
    without its state machine and rescheduling, which cost three times as much on
    uvloop (docs/performance.md); an operation sets one for all its statements
    (retries included) rather than one each. As `asyncio.timeout`, it takes back
    only its own cancellation: one from outside still cancels the task.
    """

    __slots__ = ("_cancelling", "_expired", "_message", "_seconds", "_task", "_timer")

    def __init__(self, seconds: float, message: str) -> None:
        self._seconds = seconds
        self._message = message
        self._expired = False

    async def __aenter__(self) -> None:
        self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.end(exc_type)

    def start(self) -> None:
        """Start the timer: what `async with` does on entry, without a coroutine of its own."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a Deadline must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._timer = asyncio.get_running_loop().call_later(self._seconds, self._expire)

    def end(self, exc_type: type[BaseException] | None) -> None:
        """Stop the timer; DatabaseUnavailable if it had cut the block off (`async with`'s exit)."""
        self._timer.cancel()
        # Our cancellation ended the block, and no other is pending: it timed out.
        if (
            self._expired
            and self._task.uncancel() <= self._cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise DatabaseUnavailable(self._message) from None

    def _expire(self) -> None:
        self._expired = True
        self._task.cancel()
