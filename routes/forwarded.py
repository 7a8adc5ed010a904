"""Who the client is and which scheme it used, believing only the trusted proxies.

The ALB appends the address it saw to `X-Forwarded-For` and sets
`X-Forwarded-Proto`; everything to the left of its entry was written by the
client and proves nothing. So, when the socket's peer is in TRUSTED_PROXIES,
the client is the rightmost entry that is not itself a trusted proxy (the
entry the outermost trusted proxy appended); otherwise the headers are ignored
and the client is the peer. `Edge` calls `resolve` once per request and writes
the result into the scope, so `request.client` and `request.url.scheme`
downstream are the trusted ones (uvicorn is told to trust no proxy header).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

from starlette.types import Scope

from config.settings import IPNetwork

_SCHEMES = frozenset({"http", "https"})


class TrustedProxies:
    """The networks whose forwarding headers are believed (none: only the peer counts)."""

    def __init__(self, networks: Sequence[IPNetwork]) -> None:
        self._networks = tuple(networks)
        # The ALB has a handful of addresses: each is parsed and matched once.
        self.trusts = functools.lru_cache(maxsize=4096)(self._trusts)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def _trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def resolve(self, scope: Scope) -> None:
        """Rewrite the scope's client and scheme from a trusted peer's headers."""
        peer = scope.get("client")
        if not self._networks or not peer or not self.trusts(peer[0]):
            return
        forwarded_for: list[str] = []
        proto: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded_for.extend(value.decode("latin-1").split(","))
            elif name == b"x-forwarded-proto":
                proto = value
        client = self.client_from(forwarded_for)
        if client is not None:
            scope["client"] = (client, 0)
        if proto is not None:
            scheme = proto.decode("latin-1").rpartition(",")[2].strip().lower()
            if scheme in _SCHEMES:
                scope["scheme"] = scheme

    def client_from(self, entries: Sequence[str]) -> str | None:
        """The rightmost entry of X-Forwarded-For that is not a trusted proxy.

        None when there is no usable entry. A malformed entry ends the walk: what
        lies left of it passed through something that is not a proxy of ours, so
        the last trusted hop seen stands for the client.
        """
        last_trusted: str | None = None
        for entry in reversed(entries):
            address = entry.strip()
            try:
                address = str(ipaddress.ip_address(address))
            except ValueError:
                return last_trusted
            if not self.trusts(address):
                return address
            last_trusted = address
        return last_trusted


def client_address(scope: Scope) -> str:
    """The client's address once `Edge` has resolved it ("" when the server gave none)."""
    client = scope.get("client")
    return str(client[0]) if client else ""


def trusted_scheme(scope: Scope) -> str:
    """`http` or `https`: X-Forwarded-Proto when a trusted proxy sent it, else the socket's."""
    return str(scope.get("scheme", "http"))
