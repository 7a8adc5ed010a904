"""Registrations stored truthfully: a retry of one already stored gets its row, not a 409.

No service can know whether an INSERT cut off by its deadline committed: it may
land after the 503 (a delayed segment, a failover that completes late), and the
applicant, told to try again, does. So when the email turns out to be taken, and
only then (the common path stays one INSERT), the stored row is read and the
request is a retry of it when it has:

- the same id: this request's own first attempt, or an earlier request with the
  same Idempotency-Key;
- or the same name, email, phone and program, code point for code point as stored
  (after our normalisation; the unique key's collation ignores case and accents,
  this comparison does not), stored at most the replay window ago.

A retry is answered with the stored row (its id and created_at); anything else
for a taken email stays DuplicateEmail (409).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from config.errors import DuplicateEmail
from models.db import Database
from models.idempotency import IdempotencyKeys, KeyedRequest
from models.users import User, find_user, find_user_by_email, store_user


@dataclass(slots=True)
class Stored:
    """The applicant as stored, and whether an earlier request had stored it."""

    user: User
    replayed: bool


class Registrations:
    """Stores applicants; `window` is how long a repeat counts as a retry (0: never)."""

    def __init__(self, db: Database, window: timedelta) -> None:
        self._db = db
        self._window = window
        self._keys = IdempotencyKeys(window)

    async def store(self, user: User, keyed: KeyedRequest | None = None) -> Stored:
        """Store `user`, or find the row it retries; DuplicateEmail if neither.

        `user.created_at` is taken as the time of the request. With `keyed`, the
        key is claimed first (IdempotencyKeyReused if it came with another body).
        """
        async with self._db.operation() as op:
            if keyed is not None and self._window:
                earlier_id = await self._keys.claim(op, keyed, user.id, user.created_at)
                if earlier_id is not None:
                    earlier = await find_user(op, earlier_id)
                    if earlier is not None:
                        return Stored(earlier, replayed=True)
                    # Not stored, or not yet: send it again under the same id, so
                    # that the earlier INSERT, should it land late, adds no row.
                    user = replace(user, id=earlier_id)
            try:
                await store_user(op, user)
            except DuplicateEmail:
                stored = await find_user_by_email(op, user.email)
                if stored is None or not self.is_retry(stored, user):
                    raise
                return Stored(stored, replayed=True)
        return Stored(user, replayed=False)

    def is_retry(self, stored: User, user: User) -> bool:
        """True when `user`, submitted at its created_at, repeats the `stored` row."""
        if stored.id == user.id:
            return True
        return (
            bool(self._window)
            and (stored.name, stored.email, stored.phone, stored.program)
            == (user.name, user.email, user.phone, user.program)
            and user.created_at - stored.created_at <= self._window
        )
