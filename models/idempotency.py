"""Idempotency keys (the `Idempotency-Key` header): the registration each key names.

A key's row is written before the applicant's INSERT, in autocommit: one extra
statement and no transaction. It holds the fingerprint of the submission the key
came with and the applicant id that submission is stored under. Should that
INSERT be cut off (a 503) and land later, a retry with the key re-sends it under
the same id, so the late one cannot add a second row.

Keys last `KEY_WINDOW` (24 hours, the draft's advice; the content replay has its
own, shorter window). A key whose request certainly stored nothing (a 409) is
released: nobody can squat a key by spending it on a refused request, and
refused requests add no rows. A 503 keeps its key: its INSERT may still land,
and the retry must name the same id. An expired key counts as unused: it is
deleted and claimed afresh when it comes back. Besides, once an hour at most, a
keyed registration first deletes up to `SWEEP_BATCH` expired keys (and the next
one goes on while a whole batch was expired); it does so before anything of the
registration is stored, so a sweep that fails leaves nothing ambiguous behind
(the request answers 503 and stored nothing).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from config.errors import DatabaseUnavailable, DuplicateKey, IdempotencyKeyReused
from models.db import Operation

CLAIM_KEY = (
    "INSERT INTO idempotency_keys (idempotency_key, fingerprint, user_id, created_at)"
    " VALUES (%s, %s, %s, %s)"
)
READ_KEY = (
    "SELECT fingerprint, user_id, created_at FROM idempotency_keys WHERE idempotency_key = %s"
)
DROP_EXPIRED_KEY = "DELETE FROM idempotency_keys WHERE idempotency_key = %s AND created_at = %s"
# Only the row naming this request's id: a key taken over meanwhile is someone else's.
RELEASE_KEY = "DELETE FROM idempotency_keys WHERE idempotency_key = %s AND user_id = %s"
KEY_WINDOW = timedelta(hours=24)
SWEEP_BATCH = 1000
SWEEP_EXPIRED_KEYS = (
    "DELETE FROM idempotency_keys WHERE created_at < %s ORDER BY created_at LIMIT %s"
)
SWEEP_INTERVAL_SECONDS = 3600.0
# Claiming a key that expired meanwhile deletes it and claims again; a key that
# keeps changing hands beyond that is answered 503 (try again).
_CLAIM_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """A registration sent with an Idempotency-Key, and its submission's fingerprint."""

    key: str
    fingerprint: str


class IdempotencyKeys:
    """The keys of the last `window`; one instance a process (it paces the sweeps)."""

    def __init__(self, window: timedelta) -> None:
        self._window = window
        self._next_sweep = time.monotonic()

    async def claim(
        self, op: Operation, request: KeyedRequest, user_id: str, now: datetime
    ) -> str | None:
        """Record that `request.key` names `user_id`; None once it does.

        When a request within the window sent the key with the same fingerprint,
        the id that request named (its applicant may or may not be stored) is
        returned and nothing is written. IdempotencyKeyReused when it came with
        another fingerprint.
        """
        await self._sweep_now_and_then(op, now)
        for _ in range(_CLAIM_ATTEMPTS):
            try:
                await op.execute(CLAIM_KEY, (request.key, request.fingerprint, user_id, now))
            except DuplicateKey:
                pass
            else:
                return None
            row = await op.fetch_one(READ_KEY, (request.key,))
            if row is None:
                continue  # expired and deleted since: claim it again
            fingerprint, earlier_id, created_at = row
            if now - created_at > self._window:
                await op.execute(DROP_EXPIRED_KEY, (request.key, created_at))
                continue
            if fingerprint != request.fingerprint:
                raise IdempotencyKeyReused
            return str(earlier_id)
        raise DatabaseUnavailable("the idempotency key changed hands while it was claimed")

    @staticmethod
    async def release(op: Operation, request: KeyedRequest, user_id: str) -> None:
        """Delete `request.key` if it still names `user_id` (a request that stored nothing)."""
        await op.execute(RELEASE_KEY, (request.key, user_id))

    async def _sweep_now_and_then(self, op: Operation, now: datetime) -> None:
        if time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + SWEEP_INTERVAL_SECONDS
        deleted = await op.execute(SWEEP_EXPIRED_KEYS, (now - self._window, SWEEP_BATCH))
        if deleted >= SWEEP_BATCH:
            # More are expired than a batch: the next keyed registration goes on,
            # so that sweeping keeps pace with however many keys come in.
            self._next_sweep = 0.0
