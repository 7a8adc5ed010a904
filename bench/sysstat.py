"""Linux /proc readings for the benchmark: CPU time per process tree, peak RSS."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
DB_SERVER_NAMES = ("mariadbd", "mysqld")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from the state on (the comm may contain spaces)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def _all_pids() -> list[int]:
    return [int(p.name) for p in PROC.iterdir() if p.name.isdigit()]


def process_tree(root: int) -> list[int]:
    """The pid and all its live descendants (a server that forks workers is measured whole)."""
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        fields = _stat_fields(pid)
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (gone ones count 0)."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            # utime and stime are fields 14 and 15 of stat; 3 is the state, index 0 here.
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def find_db_server() -> int | None:
    """Pid of the local MariaDB/MySQL server, if it runs on this machine."""
    for pid in _all_pids():
        try:
            comm = (PROC / str(pid) / "comm").read_text().strip()
        except OSError:
            continue
        if comm in DB_SERVER_NAMES:
            return pid
    return None


@dataclass(frozen=True, slots=True)
class MachineCpu:
    """Whole-machine CPU counters from /proc/stat, in seconds summed over all cores."""

    busy: float
    total: float

    @classmethod
    def read(cls) -> MachineCpu:
        """Read the aggregate "cpu" line."""
        with (PROC / "stat").open() as f:
            values = [int(v) for v in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal [guest guest_nice]: guest time
        # is already inside user/nice, so only the first eight are summed.
        ticks = values[:8]
        idle = ticks[3] + ticks[4]
        return cls(busy=(sum(ticks) - idle) / CLOCK_TICKS, total=sum(ticks) / CLOCK_TICKS)


def peak_rss_kib(pids: list[int]) -> tuple[int, int]:
    """Largest VmHWM (peak resident set, KiB) among the processes and how many were read."""
    peak, seen = 0, 0
    for pid in pids:
        try:
            lines = (PROC / str(pid) / "status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
                seen += 1
    return peak, seen
