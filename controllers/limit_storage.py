"""A `limits` storage for fixed windows that holds at most `capacity` counters.

limits' own MemoryStorage keeps a counter, an expiry and a lock per key until a
timer thread (every 10 ms, over every key) drops it: a flood from a million
distinct client addresses holds a million of each for the whole window
(docs/reliability.md has the figures). Here each key is one entry of an ordered
dict, in the order its window started; all keys of one storage share one window
length (one storage per limit), so that is also the order they expire in.
Expired entries are dropped from the front as new keys arrive, and at capacity
the oldest live one goes too: the counter nearest its reset is the one forgotten.
Single-threaded by design: the event loop is its only caller.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from limits.storage import Storage


class BoundedMemoryStorage(Storage):
    """Fixed-window counters, at most `capacity` of them, for one limit's window length."""

    STORAGE_SCHEME: list[str] | None = ["schoolapp-bounded-memory"]  # noqa: RUF012 (as declared by limits)

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        # key -> [count, expires at (time.time())], oldest window first.
        self._counters: OrderedDict[str, list[float]] = OrderedDict()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        """Nothing here raises for storage reasons."""
        return ()

    def __len__(self) -> int:
        return len(self._counters)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add `amount` to `key`'s counter, starting a window of `expiry` s if none runs."""
        now = time.time()
        counter = self._counters.get(key)
        if counter is None or counter[1] <= now:
            if counter is not None:
                del self._counters[key]
            self._make_room(now)
            counter = [0, now + expiry]
            self._counters[key] = counter
        counter[0] += amount
        return int(counter[0])

    def _make_room(self, now: float) -> None:
        counters = self._counters
        while counters:
            _, (_, expires_at) = next(iter(counters.items()))
            if expires_at > now and len(counters) < self.capacity:
                return
            counters.popitem(last=False)

    def get(self, key: str) -> int:
        """`key`'s count in its current window (0 when none runs)."""
        counter = self._counters.get(key)
        if counter is None or counter[1] <= time.time():
            return 0
        return int(counter[0])

    def get_expiry(self, key: str) -> float:
        """When `key`'s window ends (now when none runs)."""
        counter = self._counters.get(key)
        return time.time() if counter is None else max(counter[1], time.time())

    def check(self) -> bool:
        """Always healthy: it is memory."""
        return True

    def reset(self) -> int | None:
        """Drop every counter; how many there were."""
        count = len(self._counters)
        self._counters.clear()
        return count

    def clear(self, key: str) -> None:
        """Drop `key`'s counter."""
        self._counters.pop(key, None)
