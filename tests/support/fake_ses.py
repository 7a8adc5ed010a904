"""A stand-in for SES's endpoint on loopback that fails on demand, else forwards to moto.

moto's SES always accepts (or rejects for an unverified sender); it cannot throttle
or fail. The service's boto3 is pointed here (AWS_ENDPOINT_URL_SESV2) and each
request gets the answer of the current mode:

- `forward`: passed to moto as it is, moto's answer passed back (a delivery);
- `throttle`: 429 TooManyRequestsException, as SES answers above the sending rate;
- `unavailable`: 503 with an HTML body and no error type, as a load balancer answers;
- `internal`: 500 InternalServiceErrorException;
- `reset`: the connection closed without an answer.

`script(...)` queues modes for the next requests, before the standing `mode`.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.support.ports import LOOPBACK, free_port

MODES = ("forward", "throttle", "unavailable", "internal", "reset")


class FakeSes:
    """The fake endpoint's state: its mode, a script, and what it answered."""

    def __init__(self, moto_endpoint: str) -> None:
        self.mode = "forward"
        self.answered: Counter[str] = Counter()
        self._moto = urlsplit(moto_endpoint)
        self._script: list[str] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"

    def script(self, *modes: str) -> None:
        """Answer the next requests with these modes, in order, then with `mode`."""
        assert set(modes) <= set(MODES), modes
        with self._lock:
            self._script.extend(modes)

    def next_mode(self) -> str:
        """The mode for the request arriving now; counted."""
        with self._lock:
            mode = self._script.pop(0) if self._script else self.mode
            self.answered[mode] += 1
            return mode

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send the request to moto; its status, headers and body."""
        connection = http.client.HTTPConnection(
            self._moto.hostname or LOOPBACK, self._moto.port, timeout=10
        )
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            return answer.status, answer.getheaders(), answer.read()
        finally:
            connection.close()


def _handler(fake: FakeSes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            mode = fake.next_mode()
            if mode == "reset":
                self.close_connection = True
                self.connection.close()
                return
            if mode == "forward":
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                status, answer_headers, answer = fake.forward("POST", self.path, headers, body)
                content_type = dict(answer_headers).get("Content-Type", "application/json")
                self._answer(status, answer, {"Content-Type": content_type})
            elif mode == "throttle":
                self._error(429, "TooManyRequestsException", "Maximum sending rate exceeded.")
            elif mode == "internal":
                self._error(500, "InternalServiceErrorException", "Internal failure.")
            else:
                page = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
                self._answer(503, page, {"Content-Type": "text/html"})

        def _error(self, status: int, code: str, message: str) -> None:
            body = json.dumps({"message": message}).encode()
            headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
            self._answer(status, body, headers)

        def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test reads `answered` instead."""

    return Handler


@contextmanager
def fake_ses(moto_endpoint: str) -> Iterator[FakeSes]:
    """Serve a FakeSes on a loopback port for the duration of the block."""
    fake = FakeSes(moto_endpoint)
    server = ThreadingHTTPServer((LOOPBACK, fake.port), _handler(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
