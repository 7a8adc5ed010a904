"""Refused staff keys (unknown, revoked, expired) go to the audit trail, in bounded numbers.

A flood of bad keys must not flood the table: each presented key (by its hash) is
recorded at most once a PER_KEY_SECONDS, and all refusals of this process together
at most BURST at once and RATE a minute after that (a token bucket). What is left
out is counted, and the next row written says how many (`suppressed`).
Rows carry the key's id and name when it is known, else a prefix of the presented
key's SHA-256 (enough to tell one bad key from another; it reveals nothing of it).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from config.log import request_id_var
from models.audit import AuditEntry, record
from models.db import Database
from models.staff_keys import StaffKey

PER_KEY_SECONDS = 60.0
BURST = 30
RATE = 30  # rows a minute, over all keys, once the burst is spent
# Hashes remembered at most; past that the oldest are forgotten (a flood of distinct keys).
REMEMBERED = 10_000
ACTION = "staff_key.refused"
UNKNOWN = "-"


class RefusalAudit:
    """Writes the audit row of a refused key unless the bounds say to leave it out."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._clock = clock
        self._last: dict[str, float] = {}
        self._tokens = float(BURST)
        self._filled_at = clock()
        self._suppressed = 0

    async def refused(self, key_hash: str, reason: str, key: StaffKey | None) -> bool:
        """Audit this refusal if within bounds; True when a row was written."""
        now = self._clock()
        if not self._admit(key_hash, now):
            self._suppressed += 1
            return False
        detail: dict[str, object] = {"reason": reason, "key_hash": key_hash}
        if key is not None:
            detail["key_id"] = key.id
        if self._suppressed:
            detail["suppressed"], self._suppressed = self._suppressed, 0
        name = key.name if key is not None else UNKNOWN
        await record(self._db, AuditEntry(name, ACTION, detail, None, request_id_var.get()))
        return True

    def _admit(self, key_hash: str, now: float) -> bool:
        last = self._last.get(key_hash)
        if last is not None and now - last < PER_KEY_SECONDS:
            return False
        self._tokens = min(BURST, self._tokens + (now - self._filled_at) * RATE / 60)
        self._filled_at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        if len(self._last) >= REMEMBERED:
            # dicts keep insertion order: the first entry is the oldest.
            del self._last[next(iter(self._last))]
        self._last.pop(key_hash, None)
        self._last[key_hash] = now
        return True
