"""A loopback TCP proxy whose faults a test switches at any time: reset, refuse, black hole, hold.

The proxy runs its own asyncio loop in a background thread, so it keeps forwarding (or
failing) while the test's own thread or event loop is busy or blocked. Every public
method may be called from any thread but the proxy's own, and returns once the change
is in force: after ``reset()`` returns, the RSTs have been sent.

Modes:

- ``forward()``: relay bytes both ways (the default). Heals the listener after
  ``refuse()``. Connections black-holed earlier stay dead but open: they never forward
  again and are closed only when their client closes them, or by ``reset()``,
  ``refuse()`` or ``stop()`` (a client that reuses one after a partition hangs, as it
  would in real life). Bytes held by ``hold()`` are delivered first.
- ``reset()``: every current connection is aborted with a TCP RST on both sides; new
  connections are forwarded (a server restart or failover as the client sees it).
- ``refuse()``: current connections are reset and the listening socket is closed, so
  a new ``connect()`` fails at once with ECONNREFUSED, as against a host whose database
  is down (PyMySQL error 2003). ``forward()`` listens again on the same port.
- ``blackhole()``: nothing is forwarded and nothing is closed by the proxy. Bytes from
  either side of current connections are read and discarded; new connections complete
  the TCP handshake (the kernel does that) but get no server greeting, so a client
  hangs until its own timeout (a network partition or a failover as the client sees
  it). Note that aiomysql's ``connect_timeout`` covers the TCP connect only, not the
  greeting. When a client closes a black-holed connection, the proxy closes its side
  towards the client; the server side is left open, as the server would never learn
  of it during a partition.
- ``hold()``: like a black hole, nothing reaches the other side, but nothing is lost
  either: the bytes of current and new connections, and their closes, are kept in
  the order they came. ``release()`` (or ``forward()``) delivers all of it, in order,
  then forwards as usual: a partition that heals and lets TCP retransmit, so that a
  statement sent before it is executed after it, even if its client gave up and closed
  the connection meanwhile. ``blackhole()``, ``reset()`` and ``refuse()`` drop what is
  held.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import socket
import struct
import threading
import time
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self

from tests.support.ports import LOOPBACK, free_port

_CALL_TIMEOUT = 10.0
_RST_LINGER = struct.pack("ii", 1, 0)


class ProxyMode(enum.Enum):
    """What the proxy does with current and new connections."""

    FORWARD = "forward"
    REFUSE = "refuse"
    BLACKHOLE = "blackhole"
    HOLD = "hold"


class _Closed:
    """A held close of one side: a FIN (`error` None) or a reset."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error


_EOF = object()
# What a held connection kept, in arrival order: the side it came from, and its
# bytes, its half-close (_EOF) or its close (_Closed).
_HeldEvent = tuple["_Endpoint", "bytes | object"]


class _Endpoint(asyncio.Protocol):
    """One socket of a proxied connection: the client's or the upstream one."""

    def __init__(self, link: _Link) -> None:
        self.link = link
        self.transport: asyncio.Transport | None = None
        self.eof = False
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.lost.done()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.link.made(self)

    def data_received(self, data: bytes) -> None:
        self.link.received(self, data)

    def eof_received(self) -> bool:
        self.eof = True
        return self.link.eof_received(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(None)
        self.link.lost(self, exc)

    def pause_writing(self) -> None:
        # Flow control: stop reading the other side until this one drains.
        peer = self.link.peer(self)
        if peer is not None:
            peer.pause_reading()

    def resume_writing(self) -> None:
        peer = self.link.peer(self)
        if peer is not None:
            peer.resume_reading()

    def pause_reading(self) -> None:
        if self.open and not self.link.dead:
            assert self.transport is not None
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.open:
            assert self.transport is not None
            self.transport.resume_reading()

    def close(self) -> None:
        if self.open:
            assert self.transport is not None
            self.transport.close()

    def abort(self) -> None:
        """Close at once with a TCP RST (SO_LINGER 0), not a FIN."""
        if not self.open:
            return
        assert self.transport is not None
        sock = self.transport.get_extra_info("socket")
        # The peer may have reset it already; the abort below releases it either way.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST_LINGER)
        self.transport.abort()


class _Link:
    """A client connection and, once connected, its upstream connection."""

    def __init__(self, proxy: TcpProxy) -> None:
        self.proxy = proxy
        self.client = _Endpoint(self)
        # Set by the protocol factory, before connection_made: the upstream's first
        # bytes always find their link complete.
        self.upstream: _Endpoint | None = None
        self.dead = False  # black-holed: never forwards again
        self.aborted = False
        self.held: list[_HeldEvent] | None = None  # a list while held

    def peer(self, endpoint: _Endpoint) -> _Endpoint | None:
        """The other end: None for the client while the upstream is not connected."""
        return self.upstream if endpoint is self.client else self.client

    def endpoints(self) -> list[_Endpoint]:
        return [self.client] if self.upstream is None else [self.client, self.upstream]

    def new_upstream(self) -> _Endpoint:
        self.upstream = _Endpoint(self)
        return self.upstream

    def made(self, endpoint: _Endpoint) -> None:
        if endpoint is self.client:
            self.proxy._on_accept(self)
        elif self.aborted:
            endpoint.abort()
        elif not self.client.open:
            endpoint.close()  # the client left while we were connecting
        elif not self.dead:
            self.client.resume_reading()

    def received(self, endpoint: _Endpoint, data: bytes) -> None:
        if self.held is not None:
            self.held.append((endpoint, data))
            return
        peer = self.peer(endpoint)
        if not self.dead and peer is not None and peer.open:
            assert peer.transport is not None
            peer.transport.write(data)
        # else: black-holed, the bytes are dropped

    def eof_received(self, endpoint: _Endpoint) -> bool:
        """Pass a half-close on; returns whether the endpoint's transport stays open."""
        if self.held is not None:
            self.held.append((endpoint, _EOF))
            return True  # closed, if need be, when the half-close is delivered
        peer = self.peer(endpoint)
        if self.dead or peer is None or not peer.open:
            return False  # nothing to pass it to: let asyncio close this side
        assert peer.transport is not None
        if peer.eof:
            peer.close()
            return False
        peer.transport.write_eof()
        return True

    def lost(self, endpoint: _Endpoint, exc: Exception | None) -> None:
        if endpoint is self.client:
            self.proxy._active -= 1
        if self.held is not None:
            self.held.append((endpoint, _Closed(exc)))
        else:
            self._pass_close(endpoint, exc)
        if not any(end.open for end in self.endpoints()):
            self.proxy._links.discard(self)

    def _pass_close(self, endpoint: _Endpoint, exc: Exception | None) -> None:
        peer = self.peer(endpoint)
        if not self.dead and peer is not None:
            # Pass a reset on as a reset, a close as a close, as a direct link would.
            if exc is None:
                peer.close()
            else:
                peer.abort()

    def hold(self) -> None:
        """Keep whatever comes from either side, in order, until ``release``."""
        if self.held is None and not self.dead:
            self.held = []

    def release(self) -> None:
        """Deliver what was held, in the order it came, then forward again."""
        events, self.held = self.held or [], None
        for endpoint, event in events:
            if isinstance(event, bytes):
                self.received(endpoint, event)
            elif isinstance(event, _Closed):
                self._pass_close(endpoint, event.error)
            elif not self.eof_received(endpoint):
                endpoint.close()

    def kill(self) -> None:
        """Black-hole: stop forwarding, but keep reading so a client's close is seen."""
        self.dead = True
        self.held = None
        for endpoint in self.endpoints():
            endpoint.resume_reading()

    def abort(self) -> list[asyncio.Future[None]]:
        """Reset both sides; returns futures done once their sockets are closed."""
        self.aborted = True
        self.held = None
        for endpoint in self.endpoints():
            endpoint.abort()
        return [endpoint.lost for endpoint in self.endpoints() if endpoint.transport is not None]


class TcpProxy:
    """Forwards TCP from ``127.0.0.1:port`` to ``target``, with switchable faults.

    Use as a context manager, or call ``start()`` and ``stop()``. See the module
    docstring for what each mode does.
    """

    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        self._target = (target_host, target_port)
        self._requested_port = port
        self._port = port or 0
        self._mode = ProxyMode.FORWARD
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._active = 0
        self._total = 0
        self._errors: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """The address the proxy listens on."""
        return LOOPBACK

    @property
    def port(self) -> int:
        """The port the proxy listens on (0 before ``start()`` when none was given)."""
        return self._port

    @property
    def target(self) -> tuple[str, int]:
        """Where connections are forwarded to."""
        return self._target

    @property
    def mode(self) -> ProxyMode:
        """The current mode."""
        return self._mode

    @property
    def active_connections(self) -> int:
        """Client connections currently open through the proxy, dead ones included."""
        return self._active

    @property
    def total_connections(self) -> int:
        """Client connections accepted since ``start()``."""
        return self._total

    def start(self) -> None:
        """Start the loop thread and listen; returns once connections are accepted."""
        if self._thread is not None:
            raise RuntimeError("TcpProxy already started")
        self._mode = ProxyMode.FORWARD
        self._active = self._total = 0
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(self._on_loop_error)
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name=f"TcpProxy->{self._target[1]}", daemon=True
        )
        self._thread.start()
        try:
            self._bind()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Reset every connection, stop listening and join the loop thread.

        Raises RuntimeError if the loop reported an unexpected error while running.
        """
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._call(self._shutdown())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_CALL_TIMEOUT)
            self._loop = self._thread = None
        if thread.is_alive():
            raise RuntimeError(f"{self!r}: loop thread did not stop")
        loop.close()
        if self._errors:
            raise RuntimeError("TcpProxy loop errors:\n" + "\n".join(self._errors))

    def forward(self) -> None:
        """Forward normally; held bytes are delivered first, black-holed connections stay dead."""
        self._call(self._set_mode(ProxyMode.FORWARD, abort_current=False))

    def hold(self) -> None:
        """Keep the bytes and closes of current and new connections, in order, until released."""
        self._call(self._set_mode(ProxyMode.HOLD, abort_current=False))

    def release(self) -> None:
        """Deliver everything held, in the order it came, then forward: ``forward()``."""
        self.forward()

    def reset(self) -> None:
        """Reset every current connection (RST both ways); forward new ones."""
        self._call(self._set_mode(ProxyMode.FORWARD, abort_current=True))

    def refuse(self) -> None:
        """Reset every current connection and refuse new ones (ECONNREFUSED)."""
        self._call(self._set_mode(ProxyMode.REFUSE, abort_current=True))

    def blackhole(self) -> None:
        """Silently drop everything on current and new connections; close nothing."""
        self._call(self._set_mode(ProxyMode.BLACKHOLE, abort_current=False))

    def wait_for_active_connections(self, expected: int, timeout: float = 5.0) -> None:
        """Wait until ``active_connections == expected``; raise TimeoutError if not.

        The proxy sees a client's close a moment after the client makes it.
        """
        deadline = time.monotonic() + timeout
        while self._active != expected:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"active_connections is {self._active}, not {expected}, after {timeout}s"
                )
            time.sleep(0.01)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"TcpProxy({self.host}:{self._port} -> {self._target[0]}:{self._target[1]})"

    # Everything below runs in the loop thread, except _call and _bind.

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._loop is None:
            coro.close()
            raise RuntimeError("TcpProxy is not started")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("TcpProxy methods must not be called from its own loop")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            future.result(_CALL_TIMEOUT)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def _bind(self) -> None:
        if self._requested_port is not None:
            self._call(self._listen())
            return
        for attempt in range(5):
            self._port = free_port()
            try:
                self._call(self._listen())
            except OSError:
                if attempt == 4:
                    raise
                continue  # another process took the port between probe and bind
            return

    async def _set_mode(self, mode: ProxyMode, *, abort_current: bool) -> None:
        if mode is ProxyMode.REFUSE:
            self._close_listener()
        else:
            await self._listen()
        self._mode = mode
        if mode is ProxyMode.BLACKHOLE:
            for link in self._links:
                link.kill()
        elif mode is ProxyMode.HOLD:
            for link in self._links:
                link.hold()
        elif not abort_current:
            for link in list(self._links):
                link.release()
        if abort_current:
            await self._abort_all()

    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Link(self).client,
            host=LOOPBACK,
            port=self._port,
            reuse_address=True,
            backlog=128,
        )

    def _close_listener(self) -> None:
        # Server.close() closes the listening socket at once; wait_closed() is not
        # awaited because from Python 3.12 on it also waits for every connection.
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _abort_all(self) -> None:
        closing = [future for link in list(self._links) for future in link.abort()]
        await asyncio.gather(*closing)

    async def _shutdown(self) -> None:
        self._close_listener()
        # Pending upstream connects first, so none completes after the aborts below.
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._abort_all()

    def _on_accept(self, link: _Link) -> None:
        self._links.add(link)
        self._total += 1
        self._active += 1
        if self._mode is ProxyMode.REFUSE:
            link.abort()  # accepted just before refuse() closed the listener
        elif self._mode is ProxyMode.BLACKHOLE:
            link.kill()
        else:
            if self._mode is ProxyMode.HOLD:
                link.hold()
            # Hold the client's bytes in the kernel until there is somewhere to send them.
            link.client.pause_reading()
            task = asyncio.get_running_loop().create_task(self._connect_upstream(link))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _connect_upstream(self, link: _Link) -> None:
        try:
            await asyncio.get_running_loop().create_connection(link.new_upstream, *self._target)
        except OSError:
            # Target down: the client's connection is reset, as a server's would be
            # if it died mid-handshake.
            link.abort()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self._errors.append(f"{context.get('message')}: {context.get('exception')!r}")
        loop.default_exception_handler(context)
