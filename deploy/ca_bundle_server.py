"""A test CA bundle on a loopback HTTP server, in place of the RDS CA bundle's URL.

AWS is not reachable from CI, so the build downloads this bundle instead, with
its checksum, through the Dockerfile's own download-and-verify step.
"""

from __future__ import annotations

import datetime
import hashlib
import http.server
import threading
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

BUNDLE_PATH = "/global/global-bundle.pem"


def make_ca_bundle(count: int = 2) -> bytes:
    """`count` self-signed CA certificates in PEM, one after the other, as AWS's bundle is."""
    now = datetime.datetime.now(datetime.UTC)
    pems = []
    for index in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"image check CA {index}")])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        pems.append(certificate.public_bytes(serialization.Encoding.PEM))
    return b"".join(pems)


class BundleServer:
    """Serves one bundle at BUNDLE_PATH on 127.0.0.1 and counts the downloads."""

    def __init__(self, bundle: bytes) -> None:
        self.bundle = bundle
        self.sha256 = hashlib.sha256(bundle).hexdigest()
        self.downloads = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != BUNDLE_PATH:
                    self.send_error(404)
                    return
                server.downloads += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/x-pem-file")
                self.send_header("Content-Length", str(len(server.bundle)))
                self.end_headers()
                self.wfile.write(server.bundle)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the check prints its own lines."""

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where the bundle is served."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{BUNDLE_PATH}"

    def __enter__(self) -> BundleServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
