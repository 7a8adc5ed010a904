"""Free loopback ports for servers the tests start."""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that nothing is bound to, outside the ephemeral range.

    No outgoing connection can get such a port as its source port, so a listener can
    close and bind it again (``refuse()``/``forward()``, server restarts), and a client
    retrying against the closed port can never connect to itself.
    """
    range_text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
    low, high = (int(part) for part in range_text.split())
    candidates = [port for port in range(10_000, 65_536) if not low <= port <= high]
    for port in random.sample(candidates, 100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue  # in use: try another candidate
            return port
    raise RuntimeError(f"no free TCP port found on {host}")
