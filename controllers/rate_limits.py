"""The public form's rate limits: per client address, and per email address on mismatches.

RATE_LIMIT_REGISTER counts every POST /api/register of a client address (an
IPv6 client by its /64, what one subscriber is given). RATE_LIMIT_MISMATCH
counts, per email address, the submissions that did not match the stored one
(409s): what guessing an applicant's details one field at a time costs. Once an
address's mismatches are spent, every submission for it gets 429, the right
guess included, so a 201 can no longer confirm a guess.

Fixed windows of `limits` in a bounded store (controllers/limit_storage.py): the
memory is per task and capped, whatever the flood; the WAF's rate rule is the
layer shared by all tasks (docs/reliability.md, "A flood").
"""

from __future__ import annotations

import ipaddress
import math
import time
import unicodedata

from limits import RateLimitItem, parse
from limits.strategies import FixedWindowRateLimiter

from config.errors import TooManyRequests
from config.settings import RATE_LIMIT_OFF
from controllers.limit_storage import BoundedMemoryStorage

# Counters each task keeps per limit at most (docs/reliability.md: about 20 MB each).
ADDRESS_CAPACITY = 100_000
EMAIL_CAPACITY = 100_000
_IPV6_PREFIX = 64


def _item(notation: str) -> RateLimitItem | None:
    return None if notation == RATE_LIMIT_OFF else parse(notation)


def address_key(address: str) -> str:
    """The key a client address is counted under: itself, or its /64 for IPv6."""
    # Only IPv6 has a colon: an IPv4 address (or no address at all) is its own key.
    if ":" not in address:
        return address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ipaddress.IPv6Network((ip, _IPV6_PREFIX), strict=False).network_address)
    return address


def email_key(email: str) -> str:
    """The key an email address is counted under: as the unique key compares it
    (the `users` collation ignores case and accents), so `ADA@` is not a fresh budget."""
    decomposed = unicodedata.normalize("NFKD", email)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


class _Limit:
    def __init__(self, variable: str, notation: str, capacity: int) -> None:
        self.variable = variable
        self.item = _item(notation)
        self.storage = BoundedMemoryStorage(capacity)
        self._limiter = FixedWindowRateLimiter(self.storage)

    def hit(self, key: str) -> None:
        if self.item is not None and not self._limiter.hit(self.item, key):
            self.refuse(key)

    def count(self, key: str) -> None:
        if self.item is not None:
            self._limiter.hit(self.item, key)

    def check(self, key: str) -> None:
        if self.item is not None and not self._limiter.test(self.item, key):
            self.refuse(key)

    def refuse(self, key: str) -> None:
        assert self.item is not None
        reset_at = self._limiter.get_window_stats(self.item, key).reset_time
        raise TooManyRequests(self.variable, max(1, math.ceil(reset_at - time.time())))


class RegistrationLimits:
    """RATE_LIMIT_REGISTER and RATE_LIMIT_MISMATCH for one process."""

    def __init__(
        self,
        register: str,
        mismatch: str,
        *,
        address_capacity: int = ADDRESS_CAPACITY,
        email_capacity: int = EMAIL_CAPACITY,
    ) -> None:
        self.by_address = _Limit("RATE_LIMIT_REGISTER", register, address_capacity)
        self.by_email = _Limit("RATE_LIMIT_MISMATCH", mismatch, email_capacity)

    def admit(self, address: str) -> None:
        """Count one registration attempt of `address`; TooManyRequests when over."""
        self.by_address.hit(address_key(address))

    def check_mismatches(self, email: str) -> None:
        """TooManyRequests when `email` has no mismatch left in its window."""
        self.by_email.check(email_key(email))

    def mismatched(self, email: str) -> None:
        """Count a submission for `email` that did not match the stored one."""
        self.by_email.count(email_key(email))
