"""Latency of a 409 against a 201, over keep-alive, as a browser sees it.

From the repo root, against the local MariaDB (or TEST_MYSQL_URL)::

    .venv/bin/python -m bench.latency_409               # about 15 s
    .venv/bin/python -m bench.latency_409 --fresh 5 --pairs 500

Two figures, each for `python index.py` started as production starts it:

- first answers: in each of `--fresh` new processes, one keep-alive connection
  sends a registration (201), then a different one for the same email (409),
  as an applicant who submits twice does. The first 409 of a process is what
  a person trying the form meets.
- steady state: one process, one connection, `--pairs` times a new
  registration (201) then a conflicting one (409), interleaved so both see the
  same machine; p50 and p99 of each.

The client writes each request in one `send` with TCP_NODELAY, as browsers do,
and reads the answer to its last byte (Content-Length).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import orjson

from tests.support.mysql_target import MySQLTarget, mysql_target
from tests.support.service_process import ServiceProcess

PATH = "/api/register"


class KeepAliveClient:
    """One HTTP/1.1 connection, reused for every request."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def post(self, body: dict[str, str]) -> tuple[int, float]:
        """Send one registration; its status and seconds to the answer's last byte."""
        data = orjson.dumps(body)
        request = (
            f"POST {PATH} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode() + data
        started = time.perf_counter()
        self._sock.sendall(request)
        status = self._read_answer()
        return status, time.perf_counter() - started

    def _read_answer(self) -> int:
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            buffer += self._recv()
        head, _, body = buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(
            int(line.partition(b":")[2])
            for line in lines
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += self._recv()
        return int(lines[0].split(b" ")[1])

    def _recv(self) -> bytes:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("the service closed the connection")
        return chunk

    def close(self) -> None:
        """Close the connection."""
        self._sock.close()


def registration(email: str, name: str = "Ada Lovelace") -> dict[str, str]:
    """A valid registration for `email`."""
    return {"name": name, "email": email, "phone": "555-123-4567", "program": "engineering"}


def new_email() -> str:
    """An address nothing has registered."""
    return f"bench.{uuid.uuid4().hex[:16]}@example.com"


def expect(status: int, expected: int) -> None:
    """Stop the run when the service answers something else than the scenario needs."""
    if status != expected:
        raise SystemExit(f"expected {expected}, got {status}: the figures would mean nothing")


def first_answers(target: MySQLTarget, runs: int, log_dir: Path) -> list[tuple[float, float]]:
    """(first 201, first 409) in seconds, each from a new process."""
    pairs = []
    for run in range(runs):
        database = target.create_database()
        try:
            with ServiceProcess(target.environment(database), log_dir / f"fresh{run}.log") as svc:
                client = KeepAliveClient(svc.port)
                email = new_email()
                status, created = client.post(registration(email))
                expect(status, 201)
                status, conflict = client.post(registration(email, name="Grace Hopper"))
                expect(status, 409)
                client.close()
                pairs.append((created, conflict))
        finally:
            target.drop_database(database)
    return pairs


def steady_state(target: MySQLTarget, pairs: int, log_dir: Path) -> tuple[list[float], ...]:
    """Latencies of `pairs` 201s and 409s, interleaved on one connection of one process."""
    database = target.create_database()
    created: list[float] = []
    conflict: list[float] = []
    try:
        with ServiceProcess(target.environment(database), log_dir / "steady.log") as svc:
            client = KeepAliveClient(svc.port)
            taken = new_email()
            expect(client.post(registration(taken))[0], 201)
            for _ in range(pairs):
                status, seconds = client.post(registration(new_email()))
                expect(status, 201)
                created.append(seconds)
                status, seconds = client.post(registration(taken, name="Grace Hopper"))
                expect(status, 409)
                conflict.append(seconds)
            client.close()
    finally:
        target.drop_database(database)
    return created, conflict


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie (nearest rank), in ms."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] * 1000


def main(argv: Sequence[str] | None = None) -> None:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", type=int, default=3, help="new processes for first answers")
    parser.add_argument("--pairs", type=int, default=300, help="201/409 pairs in steady state")
    args = parser.parse_args(argv)
    with mysql_target() as target, tempfile.TemporaryDirectory() as logs:
        firsts = first_answers(target, args.fresh, Path(logs))
        created, conflict = steady_state(target, args.pairs, Path(logs))
    print(f"first answers of a new process ({args.fresh} processes), ms:")
    for number, (first_201, first_409) in enumerate(firsts, 1):
        print(f"  process {number}: 201 {first_201 * 1000:7.2f}   409 {first_409 * 1000:7.2f}")
    print(
        f"  median:    201 {statistics.median(f[0] for f in firsts) * 1000:7.2f}"
        f"   409 {statistics.median(f[1] for f in firsts) * 1000:7.2f}"
    )
    print(f"steady state, one keep-alive connection, {args.pairs} of each, ms:")
    for label, values in (("201", created), ("409", conflict)):
        print(
            f"  {label}: p50 {percentile(values, 0.5):6.2f}  p99 {percentile(values, 0.99):6.2f}"
            f"  max {max(values) * 1000:6.2f}"
        )


if __name__ == "__main__":
    main()
