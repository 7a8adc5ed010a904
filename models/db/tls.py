"""TLS to the database: the client context DB_SSL_MODE asks for, never a plain-text fallback.

The modes mean what they mean to the MySQL client: `required` encrypts without
checking the server's certificate, `verify-ca` also checks that a CA of the
bundle signed it, `verify-identity` also that it names the host connected to.

aiomysql 0.3.2 upgrades a connection to TLS only when the server's greeting offers
it, and otherwise carries on in plain text: a server without TLS, or anyone on the
path who clears that bit of the greeting, then gets the login and every statement
in clear. The first TLS context made therefore installs, once, a check that
refuses such a connection before anything is sent, as PyMySQL 1.2 and the MySQL
client do.
"""

from __future__ import annotations

import functools
import ssl
from pathlib import Path
from typing import Any

from aiomysql.connection import Connection
from pymysql.constants import CLIENT, CR
from pymysql.err import OperationalError

from config.settings import SslMode, load_ca_bundle


@functools.lru_cache(maxsize=8)
def client_context(mode: SslMode, ca_bundle: Path | None) -> ssl.SSLContext | None:
    """aiomysql's `ssl` argument for `mode`: None when disabled, else a TLS 1.2+ context.

    One context serves every connection of the process: loading 144 CAs took
    tens of milliseconds on the event loop (docs/performance.md), and a pool is
    rebuilt after every outage.
    Raises ValueError when a verifying mode has no usable CA bundle.
    """
    if mode == "disabled":
        return None
    _refuse_plain_text_fallback()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if mode == "required":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_bundle is None:
        raise ValueError(f"is required with DB_SSL_MODE={mode}")
    load_ca_bundle(context, ca_bundle)
    context.check_hostname = mode == "verify-identity"
    return context


def _describe(error: ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"the server's certificate failed verification: {error.verify_message}"
    return f"TLS handshake failed: {error.reason or error}"


@functools.cache
def _refuse_plain_text_fallback() -> None:
    """Make every aiomysql connection given a TLS context refuse to go on without TLS.

    It also names a failed handshake (wrong CA, wrong host name) in the error,
    which aiomysql would otherwise report as a bare "Can't connect".
    """
    authenticate = Connection._request_authentication

    @functools.wraps(authenticate)
    async def authenticate_over_tls(connection: Any) -> None:
        if connection._ssl_context is not None and not (
            connection.server_capabilities & CLIENT.SSL
        ):
            raise OperationalError(
                CR.CR_SSL_CONNECTION_ERROR,
                "TLS is required (DB_SSL_MODE) but the server does not offer it",
            )
        try:
            await authenticate(connection)
        except ssl.SSLError as exc:
            raise OperationalError(CR.CR_SSL_CONNECTION_ERROR, _describe(exc)) from exc

    Connection._request_authentication = authenticate_over_tls
