"""Hostile requests against the real process (`python index.py`), over raw sockets.

Oversized and chunked bodies, deep nesting, bytes that are not UTF-8, NUL,
bidi and zero-width characters, floods of headers, clients that go away: each
gets a 4xx (never a 5xx) promptly, and the process keeps serving through it all.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration, unique_email
from tests.support.service_process import ServiceProcess

REGISTER = "/api/register"
LIMIT = 16 * 1024
# Long enough for a loaded 2-core machine, far shorter than any body upload.
PROMPT_SECONDS = 2.0

NOT_AN_OBJECT = {"error": "Request body must be a JSON object"}
TOO_LARGE = {"error": "Request body too large"}
NAME_CHARACTERS = "Name must contain only letters, spaces, hyphens, or apostrophes"
INVALID_EMAIL = "Invalid email format"
INVALID_PHONE = "Phone number must be 10 digits"
INVALID_PROGRAM = (
    "Invalid program. Must be one of: computer-science, engineering, business, arts, medicine"
)

# The service's body deadline here: short, so that slow clients are answered quickly.
BODY_TIMEOUT = 1.0
# Request ids of requests this module abandoned on purpose (see the last tests).
ABANDONED: set[str] = set()


@pytest.fixture(scope="module")
def service(
    mysql: MySQLTarget, database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    environment = {
        **mysql.environment(database),
        "LOG_FORMAT": "json",
        "BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
    }
    log = tmp_path_factory.mktemp("hostile_requests") / "service.log"
    with ServiceProcess(environment, log) as running:
        yield running


@dataclass(frozen=True)
class RawAnswer:
    """What came back on one connection; status None if it closed without an answer."""

    status: int | None
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        assert self.headers.get("content-type") == "application/json", self.headers
        return json.loads(self.body)


def exchange(
    service: ServiceProcess, parts: Sequence[bytes], timeout: float = PROMPT_SECONDS
) -> RawAnswer:
    """Send `parts` on a fresh connection and read one answer, waiting at most `timeout` s.

    The connection stays open after the last part: an answer that comes proves
    the server did not wait for bytes that were never sent.
    """
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", service.port), timeout=timeout) as sock:
        try:
            for part in parts:
                sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything: read the answer
        received = b""
        while True:
            remaining = timeout - (time.monotonic() - started)
            if remaining <= 0:
                pytest.fail(f"no complete answer within {timeout} s; got {received[:200]!r}")
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue  # the deadline check above fails the test
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break
            received += chunk
            if _complete(received):
                break
    seconds = time.monotonic() - started
    if not received:
        return RawAnswer(None, {}, b"", seconds)
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawAnswer(int(status_line.split()[1]), headers, body, seconds)


def _complete(received: bytes) -> bool:
    head, separator, body = received.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def post_head(length: int | None, content_type: str = "application/json", extra: str = "") -> bytes:
    """The request line and headers of a POST /api/register."""
    framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    return (
        f"POST {REGISTER} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"{framing}\r\n{extra}\r\n"
    ).encode()


def post(service: ServiceProcess, body: bytes, content_type: str = "application/json") -> RawAnswer:
    return exchange(service, [post_head(len(body), content_type), body])


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def assert_still_serving(service: ServiceProcess) -> None:
    assert service.exit_code() is None, f"the service exited:\n{service.log()[-3000:]}"
    answer = httpx.get(f"{service.base_url}/health", timeout=PROMPT_SECONDS)
    assert (answer.status_code, answer.json()) == (200, {"status": "OK"})


def stored_emails(mysql: MySQLTarget, database: str, email: str) -> list[tuple[Any, ...]]:
    return mysql.execute("SELECT email FROM users WHERE email = %s", (email,), database=database)


def registration_bytes(**fields: Any) -> bytes:
    return json.dumps(registration(**fields)).encode()


# --- Oversized bodies -------------------------------------------------------


def test_a_declared_10_mb_body_is_refused_at_once_without_waiting_for_it(
    service: ServiceProcess,
) -> None:
    answer = exchange(service, [post_head(10 * 1024 * 1024), b'{"name": "Ada'])
    assert answer.status == 413
    assert answer.json() == TOO_LARGE
    assert answer.seconds < PROMPT_SECONDS
    assert_still_serving(service)


def test_a_chunked_body_over_16_kib_is_refused_before_it_ends(service: ServiceProcess) -> None:
    # 17 KiB in 1 KiB chunks and no terminating chunk: the server must stop reading.
    chunks = [chunk(b" " * 1024) for _ in range(17)]
    answer = exchange(service, [post_head(None), *chunks])
    assert answer.status == 413
    assert answer.json() == TOO_LARGE
    assert_still_serving(service)


def test_a_chunked_body_that_lies_in_small_chunks_is_counted_whole(
    service: ServiceProcess,
) -> None:
    # Many tiny chunks: the count is of the body, not of any one chunk.
    chunks = [chunk(b" " * 64) for _ in range(LIMIT // 64 + 1)]
    answer = exchange(service, [post_head(None), b"".join(chunks)])
    assert answer.status == 413
    assert answer.json() == TOO_LARGE


def test_a_body_of_exactly_16_kib_is_read_and_one_byte_more_is_not(
    service: ServiceProcess, mysql: MySQLTarget, database: str
) -> None:
    body = registration_bytes()
    at_limit = body + b" " * (LIMIT - len(body))
    answer = post(service, at_limit)
    assert answer.status == 201, answer.body
    assert stored_emails(mysql, database, answer.json()["email"])
    over = registration_bytes()
    answer = post(service, over + b" " * (LIMIT + 1 - len(over)))
    assert answer.status == 413
    assert answer.json() == TOO_LARGE
    assert stored_emails(mysql, database, json.loads(over)["email"]) == []


# --- Deep nesting -----------------------------------------------------------


def _nested_field(depth: int) -> bytes:
    fields = registration()
    fields.pop("name")
    return (json.dumps(fields)[:-1] + ', "name": ' + "[" * depth + "]" * depth + "}").encode()


def test_100k_open_brackets_are_refused_as_too_large(service: ServiceProcess) -> None:
    # 100 000 bytes: the size limit answers before any parser sees the nesting.
    answer = post(service, b"[" * 100_000)
    assert answer.status == 413
    assert answer.json() == TOO_LARGE
    assert_still_serving(service)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 16_000,
        b"[" * 8_000 + b"]" * 8_000,
        b'{"a":' * 2_500 + b"1" + b"}" * 2_500,
        b'{"name": ' + b"[" * 16_000,
    ],
    ids=["16k-unclosed-brackets", "8k-deep-array", "2500-deep-object", "unclosed-in-a-field"],
)
def test_deep_nesting_under_the_size_limit_is_a_400(service: ServiceProcess, body: bytes) -> None:
    assert len(body) <= LIMIT
    answer = post(service, body)
    assert answer.status == 400
    assert answer.json() == NOT_AN_OBJECT
    assert_still_serving(service)


@pytest.mark.parametrize("depth", [100, 500, 7_000])
def test_a_deeply_nested_field_value_is_a_400(service: ServiceProcess, depth: int) -> None:
    body = _nested_field(depth)
    assert len(body) <= LIMIT
    answer = post(service, body)
    assert answer.status == 400
    # A parser may set a depth limit (RFC 8259 section 9): past it the body is not
    # JSON to the service; under it the name, a list, fails its own check.
    assert answer.json()["error"] in {NOT_AN_OBJECT["error"], NAME_CHARACTERS}
    if depth <= 500:
        assert answer.json()["error"] == NAME_CHARACTERS
    assert_still_serving(service)


# --- Bytes that are not UTF-8 -----------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        b"\xff\xfe",
        b"\xc0\xaf",  # overlong '/'
        b"\xed\xa0\x80",  # a UTF-16 surrogate encoded as UTF-8 (CESU-8)
        b"\xe2\x82",  # truncated sequence
        b"Jos\xe9",  # Latin-1
        b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    ],
    ids=["ff-fe", "overlong", "cesu-surrogate", "truncated", "latin-1", "beyond-unicode"],
)
def test_invalid_utf8_in_a_field_is_a_400(
    service: ServiceProcess, mysql: MySQLTarget, database: str, bad: bytes
) -> None:
    email = unique_email()
    body = b'{"name": "' + bad + b'", "email": "' + email.encode() + b'", '
    body += b'"phone": "5551234567", "program": "arts"}'
    answer = post(service, body)
    assert answer.status == 400
    assert answer.json() == NOT_AN_OBJECT
    assert stored_emails(mysql, database, email) == []


@pytest.mark.parametrize("charset", ["utf-16", "UTF-16LE", '"utf-32"'])
def test_a_body_labelled_utf16_or_utf32_is_a_415_not_read_as_utf8(
    service: ServiceProcess, mysql: MySQLTarget, database: str, charset: str
) -> None:
    body = registration()
    answer = post(service, json.dumps(body).encode(), f"application/json; charset={charset}")
    assert (answer.status, answer.json()) == (
        415,
        {"error": "Content-Type must be application/json"},
    )
    assert stored_emails(mysql, database, body["email"]) == []


def test_a_body_in_utf16_is_a_400(service: ServiceProcess) -> None:
    answer = post(service, json.dumps(registration()).encode("utf-16"))
    assert answer.status == 400
    assert answer.json() == NOT_AN_OBJECT


def test_a_lone_surrogate_escape_is_a_400(service: ServiceProcess) -> None:
    body = registration_bytes().replace(b'"Ada Lovelace"', b'"Ada \\ud800 Lovelace"')
    answer = post(service, body)
    assert answer.status == 400
    assert answer.json()["error"] in {NOT_AN_OBJECT["error"], NAME_CHARACTERS}


def test_a_byte_order_mark_before_the_json_gets_no_5xx(service: ServiceProcess) -> None:
    # RFC 8259 lets a parser ignore a BOM or refuse it; either is fine, a 500 is not.
    answer = post(service, b"\xef\xbb\xbf" + registration_bytes())
    assert answer.status in {201, 400}
    if answer.status == 400:
        assert answer.json() == NOT_AN_OBJECT


# --- NUL, bidi and zero-width characters -------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "Ada\u0000Lovelace", NAME_CHARACTERS),
        ("name", "\u0000", NAME_CHARACTERS),
        ("email", "ada\u0000@example.com", INVALID_EMAIL),
        ("email", "ada@example.com\u0000", INVALID_EMAIL),
        ("phone", "555123456\u00007", INVALID_PHONE),
        ("phone", "5551234567\u0000", INVALID_PHONE),
        ("program", "arts\u0000", INVALID_PROGRAM),
    ],
)
def test_nul_in_a_field_is_a_400_with_that_fields_message(
    service: ServiceProcess,
    mysql: MySQLTarget,
    database: str,
    field: str,
    value: str,
    message: str,
) -> None:
    body = registration(**{field: value})
    answer = post(service, json.dumps(body).encode())
    assert answer.status == 400
    assert answer.json()["error"] == message
    assert [d["field"] for d in answer.json()["details"]] == [field]
    if field != "email":
        assert stored_emails(mysql, database, body["email"]) == []


def test_a_raw_nul_byte_inside_a_json_string_is_a_400(service: ServiceProcess) -> None:
    # Control characters must be escaped in JSON strings: this is not JSON.
    answer = post(service, registration_bytes().replace(b"Ada Lovelace", b"Ada\x00Lovelace"))
    assert answer.status == 400
    assert answer.json() == NOT_AN_OBJECT


def test_a_nul_byte_after_the_object_is_a_400(service: ServiceProcess) -> None:
    answer = post(service, registration_bytes() + b"\x00")
    assert answer.status == 400
    assert answer.json() == NOT_AN_OBJECT


@pytest.mark.parametrize(
    "name",
    [
        "\u202eAda Lovelace",  # right-to-left override
        "Ada\u202d Lovelace\u202c",  # left-to-right override ... pop
        "\u2067Ada\u2069 Lovelace",  # right-to-left isolate ... pop
        "Ada\u200f Lovelace",  # right-to-left mark
        "\u061cAda Lovelace",  # arabic letter mark
        "Ada\u200bLovelace",  # zero width space
        "Ada\u200c Lovelace",  # zero width non-joiner
        "Ada\u200d Lovelace",  # zero width joiner
        "\u2060Ada Lovelace",  # word joiner
        "\ufeffAda Lovelace",  # zero width no-break space (BOM)
        "Ada\u00ad Lovelace",  # soft hyphen
        "Ada \U000e0041Lovelace",  # tag character
        "\u200b",
    ],
)
def test_bidi_controls_and_zero_width_characters_in_the_name_are_a_400(
    service: ServiceProcess, mysql: MySQLTarget, database: str, name: str
) -> None:
    body = registration(name=name)
    answer = post(service, json.dumps(body).encode())
    assert answer.status == 400
    assert answer.json()["error"] == NAME_CHARACTERS
    assert stored_emails(mysql, database, body["email"]) == []


@pytest.mark.parametrize("mark", ["\u202e", "\u200b", "\u200d", "\u2066", "\ufeff"])
def test_bidi_controls_and_zero_width_characters_in_the_email_are_a_400(
    service: ServiceProcess, mark: str
) -> None:
    local, _, domain = unique_email().partition("@")
    answer = post(service, registration_bytes(email=f"{local}{mark}@{domain}"))
    assert answer.status == 400
    assert answer.json()["error"] == INVALID_EMAIL


# --- Headers -----------------------------------------------------------------


def _get_health(extra_headers: bytes) -> bytes:
    return b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers + b"\r\n"


@pytest.mark.parametrize(
    "request_bytes",
    [
        _get_health(b"".join(b"X-Flood-%d: %d\r\n" % (i, i) for i in range(200))),
        _get_health(b"X-Padding: " + b"a" * 64 * 1024 + b"\r\n"),
        _get_health(b"".join(b"Cookie: c%d=%s\r\n" % (i, b"v" * 100) for i in range(2000))),
        post_head(len(registration_bytes()), extra="X-Padding: " + "a" * 64 * 1024 + "\r\n")
        + registration_bytes(),
        b"GET /" + b"a" * 64 * 1024 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    ],
    ids=["200-headers", "one-64-kib-header", "2000-cookies", "64-kib-header-on-post", "64-kib-url"],
)
def test_a_header_flood_gets_no_5xx_and_the_server_keeps_serving(
    service: ServiceProcess, request_bytes: bytes
) -> None:
    # uvicorn with httptools may answer normally, refuse (400/431) or close the
    # connection; none of those is a server error.
    answer = exchange(service, [request_bytes], timeout=5.0)
    assert answer.status is None or answer.status < 500, answer
    assert_still_serving(service)


def test_a_64_kib_request_id_is_not_echoed(service: ServiceProcess) -> None:
    answer = exchange(service, [_get_health(b"X-Request-ID: " + b"a" * 64 * 1024 + b"\r\n")])
    assert answer.status is None or answer.status < 500
    if answer.status is not None:
        assert 1 <= len(answer.headers["x-request-id"]) <= 128
        assert answer.headers["x-request-id"] != "a" * 64 * 1024


# --- Content-Type parameters ---------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=latin-1",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "Application/JSON",
    ],
)
def test_a_content_type_parameter_is_fine_and_the_body_is_read_as_utf8(
    service: ServiceProcess, mysql: MySQLTarget, database: str, content_type: str
) -> None:
    # The contract: "a charset parameter is fine". JSON is UTF-8 (RFC 8259), so a
    # latin-1 label on a UTF-8 body does not turn "José" into "JosÃ©".
    body = registration(name="José Núñez-O’Brien")
    answer = post(service, json.dumps(body, ensure_ascii=False).encode(), content_type)
    assert answer.status == 201, answer.body
    assert answer.json()["name"] == "José Núñez-O’Brien"
    rows = mysql.execute(
        "SELECT name FROM users WHERE id = %s", (answer.json()["id"],), database=database
    )
    assert rows == [("José Núñez-O’Brien",)]


# --- Clients that go away ----------------------------------------------------------


def _access_entries(service: ServiceProcess, request_id: str) -> list[dict[str, Any]]:
    entries = []
    for line in service.log().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("request_id") == request_id:
            entries.append(entry)
    return entries


def _abandon(service: ServiceProcess, parts: Sequence[bytes], request_id: str) -> None:
    ABANDONED.add(request_id)
    with socket.create_connection(("127.0.0.1", service.port), timeout=PROMPT_SECONDS) as sock:
        for part in parts:
            sock.sendall(part)
    deadline = time.monotonic() + PROMPT_SECONDS
    while time.monotonic() < deadline:
        if any(e.get("logger") == "schoolapp.access" for e in _access_entries(service, request_id)):
            return
        time.sleep(0.05)
    pytest.fail(f"no access log line for {request_id}")


@pytest.mark.parametrize(
    "body_parts",
    [
        [b'{"name": "Ada'],  # 13 bytes of a declared 200, then the client closes
        [chunk(b'{"name": '), b"zz\r\n"],  # a malformed chunk size
    ],
    ids=["truncated-body-then-close", "malformed-chunk"],
)
def test_a_client_that_goes_away_mid_body_is_not_logged_as_a_server_error(
    service: ServiceProcess, body_parts: list[bytes]
) -> None:
    # Browsers navigate away and proxies cut uploads: that is the client's doing.
    # No answer can reach it, so a 500 in the access log and an "unhandled error"
    # with a traceback would only raise false alarms.
    request_id = f"hostile-{uuid.uuid4().hex}"
    chunked = body_parts[-1] == b"zz\r\n"
    head = post_head(None if chunked else 200, extra=f"X-Request-ID: {request_id}\r\n")
    _abandon(service, [head, *body_parts], request_id)
    entries = _access_entries(service, request_id)
    assert not [e for e in entries if e["level"] in {"error", "critical"}], entries
    assert [e["status"] for e in entries if e["logger"] == "schoolapp.access"] != [500], entries
    assert_still_serving(service)


# --- Slow clients, odd lengths, paths that hold personal data -------------------------


def _error_lines(service: ServiceProcess) -> list[str]:
    return [line for line in service.log().splitlines() if '"level":"error"' in line]


@pytest.mark.parametrize("path", [REGISTER, "/api/programs", "/api/registrations"])
def test_a_content_length_of_4400_zeros_is_no_500(service: ServiceProcess, path: str) -> None:
    # int() refuses more than 4,300 digits: the length is read without it (it is 0).
    errors_before = len(_error_lines(service))
    method = "POST" if path == REGISTER else "GET"
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {'0' * 4400}\r\n\r\n"
    ).encode()
    answer = exchange(service, [head])
    assert answer.status is not None
    assert answer.status < 500, answer.body
    if path == REGISTER:
        assert (answer.status, answer.json()) == (400, NOT_AN_OBJECT)
    assert len(_error_lines(service)) == errors_before


def test_a_body_that_stops_arriving_gets_408_and_the_connection_closes(
    service: ServiceProcess,
) -> None:
    answer = exchange(service, [post_head(200), b'{"name": "Ada'], timeout=BODY_TIMEOUT + 3)
    assert (answer.status, answer.json()) == (408, {"error": "Request body not received in time"})
    assert answer.headers.get("connection") == "close"
    assert BODY_TIMEOUT <= answer.seconds < BODY_TIMEOUT + 2


def test_a_body_sent_a_byte_at_a_time_is_cut_off_at_the_deadline(service: ServiceProcess) -> None:
    body = registration_bytes()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", service.port), timeout=BODY_TIMEOUT + 3) as sock:
        sock.sendall(post_head(len(body)))
        received = b""
        for byte in body:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.2)
            if time.monotonic() - started > BODY_TIMEOUT + 2:
                break
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 408 "), received[:200]
    assert time.monotonic() - started < BODY_TIMEOUT + 3


def test_an_address_or_phone_in_a_path_is_not_on_the_access_line(
    service: ServiceProcess,
) -> None:
    request_id = f"hostile-{uuid.uuid4().hex}"
    path = "/api/registrations-of/jane.doe@example.com/555-123-4567"
    answer = httpx.get(
        f"{service.base_url}{path}", headers={"X-Request-ID": request_id}, timeout=PROMPT_SECONDS
    )
    assert answer.status_code == 404
    deadline = time.monotonic() + PROMPT_SECONDS
    while not (entries := _access_entries(service, request_id)) and time.monotonic() < deadline:
        time.sleep(0.05)
    [entry] = entries
    assert "jane.doe" not in entry["path"]
    assert "4567" not in entry["path"]
    assert "jane.doe@example.com" not in service.log()
    assert "555-123-4567" not in service.log()


def test_the_server_survived_all_of_it(service: ServiceProcess) -> None:
    assert_still_serving(service)
    assert httpx.get(f"{service.base_url}/health/ready", timeout=5).status_code == 200
    lines = [json.loads(line) for line in service.log().splitlines() if line.startswith("{")]
    entries = [e for e in lines if "logger" in e]  # not the metrics' EMF lines
    errors = [
        e
        for e in entries
        if e["level"] in {"error", "critical"} and e.get("request_id") not in ABANDONED
    ]
    assert not errors, errors
    served_5xx = [
        e
        for e in entries
        if e["logger"] == "schoolapp.access"
        and e["status"] >= 500
        and e["request_id"] not in ABANDONED
    ]
    assert not served_5xx, served_5xx
