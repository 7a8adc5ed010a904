"""The background sender: delivers the confirmation emails the outbox owes.

It runs in the service's own process, on its event loop, started and stopped
by the app's lifespan. It is a controller like the request handlers, only
driven by the outbox instead of HTTP: it calls the models, renders the
templates and hands the result to a transport from config/.

A registration reaches it twice over: the controller hands the new id over
right after the commit (`registered`, no I/O), and every minute
(`SenderTimings.reconcile_seconds`), starting at start-up, the sender looks
for committed registrations that still have no outbox row (their process died
before writing it, or an old-service task took them). Either way an id
already recorded is left as it is, so the paths and the tasks agree on one
row, hence one email.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import suppress

from config.cpu_load import CpuLoad
from config.errors import DatabaseUnavailable
from controllers.mail_delivery import Delivery
from controllers.mail_outcome import Outcome, log, record
from controllers.mail_timings import SenderTimings
from models import mail_outbox
from models.db import Database
from models.mail_outbox import OwedMail

logger = logging.getLogger("schoolapp.mail")

HANDOFF_BATCH = 1000
RECONCILE_BATCH = 500


class MailSender:
    """Owns the sending task: hand-off, reconciliation, claims, outcomes."""

    def __init__(
        self,
        db: Database,
        delivery: Delivery,
        load: CpuLoad,
        *,
        batch: int,
        timings: SenderTimings,
    ) -> None:
        self._db = db
        self._delivery = delivery
        self._load = load
        self._batch = batch
        self._timings = timings
        self._handed: list[str] = []
        self._outcomes: list[Outcome] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def registered(self, user_id: str) -> None:
        """Note a committed registration: its email is recorded and sent soon. Never fails."""
        self._handed.append(user_id)
        self._wake.set()

    def start(self) -> None:
        """Start sending in the background."""
        self._load.start()
        self._task = asyncio.create_task(self._run(), name="mail-sender")

    async def stop(self) -> None:
        """Finish the sends under way, record them and the hand-offs, hand back the rest.

        Bounded by `drain_seconds`; what is left then is not lost: its lease ends
        and another task (or the next start) sends it.
        """
        task, self._task = self._task, None
        if task is None:
            return
        self._delivery.stopping.set()
        self._wake.set()
        try:
            async with asyncio.timeout(self._timings.drain_seconds):
                await asyncio.shield(task)
        except TimeoutError:
            logger.warning("mail sender not drained in time; its claims fall due after the lease")
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        finally:
            self._delivery.close()
            await self._load.stop()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = self._delivery.stopping
        next_reconcile = loop.time()
        failures = 0
        while not stopping.is_set():
            # Cleared before the hand-offs are read: one arriving later wakes the wait.
            self._wake.clear()
            try:
                await self._record_outcomes()
                await self._record_handed()
                if loop.time() >= next_reconcile:
                    await self._reconcile()
                    next_reconcile = loop.time() + self._timings.reconcile_seconds
                busy = await self._send_due()
            except DatabaseUnavailable as exc:
                failures += 1
                logger.warning("mail sender: database unavailable, will retry: %s", exc)
                await self._wait(stopping, min(30.0, 2.0**failures))
                continue
            except Exception:  # a bug must not end the sending for good: log, retry
                failures += 1
                logger.exception("mail sender: unexpected error, will retry")
                await self._wait(stopping, min(30.0, 2.0**failures))
                continue
            failures = 0
            if not busy:
                await self._wait(self._wake, self._timings.poll_seconds)
        await self._finish()

    async def _send_due(self) -> bool:
        claim = uuid.uuid4().hex
        owed = await mail_outbox.claim_due(
            self._db, claim, self._batch, self._timings.lease_seconds
        )
        if not owed:
            return False
        await asyncio.gather(*map(self._deliver, owed))
        return True

    async def _deliver(self, owed: OwedMail) -> None:
        # Recorded as soon as sent: a process killed mid-batch then leaves only
        # the emails under way to be sent again when their lease ends.
        outcome = await self._delivery.deliver(owed)
        try:
            await record(self._db, outcome)
        except DatabaseUnavailable as exc:
            logger.warning("mail: outcome kept to record later: %s", exc)
            self._outcomes.append(outcome)
            return
        log(outcome)

    async def _record_handed(self) -> None:
        while self._handed:
            batch = self._handed[:HANDOFF_BATCH]
            await mail_outbox.add(self._db, batch)
            del self._handed[: len(batch)]

    async def _reconcile(self) -> None:
        while True:
            ids = await mail_outbox.find_unrecorded(
                self._db, self._timings.window_seconds, RECONCILE_BATCH
            )
            if ids:
                await mail_outbox.add(self._db, ids)
                logger.info("mail: recorded %d registrations that had no email recorded", len(ids))
            if len(ids) < RECONCILE_BATCH:
                return

    async def _record_outcomes(self) -> None:
        # Kept in memory until written: a database blip after a send must not
        # make the email due again (a duplicate) while its lease still runs.
        while self._outcomes:
            outcome = self._outcomes[0]
            await record(self._db, outcome)
            self._outcomes.pop(0)
            log(outcome)

    async def _finish(self) -> None:
        try:
            await self._record_outcomes()
            await self._record_handed()
        except DatabaseUnavailable as exc:
            logger.warning(
                "mail sender stopped with %d outcomes and %d hand-offs unrecorded"
                " (leases and reconciliation recover them): %s",
                len(self._outcomes),
                len(self._handed),
                exc,
            )

    @staticmethod
    async def _wait(event: asyncio.Event, seconds: float) -> None:
        with suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()
