"""The bounds on refused keys' audit rows: per key a minute, a token bucket over all keys."""

from __future__ import annotations

import json

import pytest

from controllers.staff_refusals import BURST, RATE, RefusalAudit
from models.audit import newest
from models.db import Database

pytestmark = pytest.mark.anyio


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(migrated_db: Database) -> Database:
    return migrated_db


async def test_refusals_are_bounded_and_the_left_out_ones_counted(db: Database) -> None:
    clock = Clock()
    refusals = RefusalAudit(db, clock)

    written = [await refusals.refused(f"{i:012x}", "unknown", None) for i in range(BURST + 10)]
    assert written == [True] * BURST + [False] * 10
    assert not await refusals.refused("000000000000", "unknown", None)  # the same key, too soon

    clock.now += 60 / RATE  # one token back
    assert await refusals.refused("ffffffffffff", "unknown", None)
    clock.now += 60  # and the first key may be recorded again
    assert await refusals.refused("000000000000", "unknown", None)

    rows = await newest(db, 100)
    assert len(rows) == BURST + 2
    assert rows[1].entry.detail == {"reason": "unknown", "key_hash": "ffffffffffff",
                                    "suppressed": 11}  # fmt: skip
    assert json.dumps(rows[0].entry.detail).count("suppressed") == 0
