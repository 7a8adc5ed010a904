"""The outbox worker: delivers the confirmation emails the outbox owes.

It runs in the service's own process, on its event loop, started and stopped
by the app's lifespan, and owns every part of sending: its timings, the
pacing and threads of each send, the backoff, and recording and logging what
became of each email. The outbox's SQL is in models/mail_outbox.py.

A registration reaches it twice over: the controller hands the new id over
right after the commit (`registered`, no I/O), and every
`WorkerTimings.reconcile_seconds`, starting at start-up, the worker looks for
committed registrations that still have no outbox row (their process died
before writing it, or an old-service task took them). Either way an id
already recorded is left as it is, so the paths and the tasks agree on one
row, hence one email.

boto3 blocks, so each send runs in a thread of a pool of MAIL_CONCURRENCY
threads of the worker's own (never the event loop's default pool, which
reading AWS credentials shares). Sends start at most MAIL_RATE a second (SES's
sending quota), and one a second while the process is saturated: a send's
CPU (docs/mail.md) is taken from registrations when they use every cycle.

Fair order: each hand-off falls due no sooner than `fair_spacing_seconds` after
the previous one from the same client address (start-time fair queuing with
the wall clock as virtual time). A flood from one address is spread into the
future; anyone else's email is due at once and goes next (docs/mail.md).

Bounces and complaints (MAIL_EVENTS_QUEUE_URL): a second task long-polls the
queue in a thread of its own, marks the outbox row, puts the address on the
suppression list, and only then deletes the message. An email whose address is
on that list is marked `suppressed` and never sent.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from enum import Enum

from config.errors import (
    DatabaseUnavailable,
    MailEventUnreadable,
    MailRejected,
    MailTemporarilyFailed,
)
from config.log import mask_email
from config.metrics import METRICS
from config.settings import Settings
from mail.cpu_load import CpuLoad
from mail.events import MailEventRecord, MailEventsQueue, QueuedMessage, read_event
from mail.message import ConfirmationEmail
from mail.transports import Transport, mail_transport
from models import mail_outbox, mail_suppressions
from models.db import Database
from models.mail_outbox import Handoff, OwedMail

_logger = logging.getLogger("schoolapp.mail")
# The worker's own generator: jitter must not disturb (nor depend on) the process-wide
# `random` state that others seed and replay (Hypothesis, for one).
_JITTER = random.Random()  # noqa: S311 (jitter, not a secret)


@dataclass(frozen=True, slots=True)
class WorkerTimings:
    """How the worker paces itself and backs off; the defaults are production's."""

    # How often an idle worker looks for emails due (retries, other tasks' rows).
    poll_seconds: float = 2.0
    reconcile_seconds: float = 60.0
    # Registrations older than this with no outbox row are never emailed.
    window_seconds: int = 7 * 24 * 3600
    # A claim not finished within this falls due again for any worker.
    lease_seconds: float = 60.0
    # An email's retries: base * 2**(attempts - 1), equal jitter, at most the cap.
    retry_base_seconds: float = 1.0
    retry_cap_seconds: float = 900.0
    # The loop after a failed round (database down, a bug): 2 s, 4 s, ... at most 30 s.
    outage_base_seconds: float = 2.0
    outage_cap_seconds: float = 30.0
    # The worker's part of the task's 40 s stopTimeout (docs/mail.md, "Stopping").
    drain_seconds: float = 8.0
    # Above this share of a core the process is saturated and emails yield to requests.
    busy_above: float = 0.75
    busy_interval_seconds: float = 1.0  # one email per this while saturated
    # Beyond a transport's own bound: an overrunning send is abandoned and retried.
    send_grace_seconds: float = 1.0
    # Rows a statement writes: ids handed over, ids the reconciliation finds.
    handoff_batch: int = 1000
    # Hand-offs gathered this long before they are written: one INSERT for a burst of
    # registrations rather than one each, a cost every registration paid
    # (docs/performance.md); reconciliation covers a crash inside it.
    handoff_linger_seconds: float = 0.2
    reconcile_batch: int = 500
    # A claimed batch needs at most this much pacing: far inside its lease.
    batch_pacing_seconds: float = 10.0
    # One client address's emails fall due at least this far apart: the pace the
    # sender keeps even while saturated, so one address never queues ahead of others.
    fair_spacing_seconds: float = 1.0
    # Client addresses whose next slot is remembered; past ones are pruned beyond it.
    fair_table_size: int = 10_000
    # After a failed read of the bounce queue (SQS unreachable, database down).
    events_retry_seconds: float = 5.0

    def claim_batch(self, rate: float, concurrency: int) -> int:
        """How many due emails one claim takes at MAIL_RATE and MAIL_CONCURRENCY."""
        return max(1, min(2 * concurrency, int(rate * self.batch_pacing_seconds)))

    def lease_for(self, rate: float, batch: int, send_seconds: float) -> float:
        """A claim's lease at MAIL_RATE `rate`: `lease_seconds`, or longer when the
        pacing alone could keep a claimed email waiting that long (a rate below one
        a minute), so that no other worker takes it while it still waits its turn."""
        interval = max(1.0 / rate, self.busy_interval_seconds)
        # Each email of the batch, the one paced before it, and a send's bound, twice over.
        slowest = (batch + 1) * interval + send_seconds + self.send_grace_seconds
        return max(self.lease_seconds, 2 * slowest)

    def retry_delay(self, attempts: int) -> float:
        """Wait before an email's next attempt, after `attempts` of them.

        "Equal jitter": half the step fixed, half random, so that workers throttled
        together spread out yet each waits longer after every failure.
        """
        step = _backoff(attempts, self.retry_base_seconds, self.retry_cap_seconds)
        return step / 2 + _JITTER.uniform(0, step / 2)

    def outage_wait(self, failures: int) -> float:
        """Wait before the loop's next round after `failures` failed rounds in a row."""
        return _backoff(failures, self.outage_base_seconds, self.outage_cap_seconds)


def _backoff(count: int, base: float, cap: float) -> float:
    return min(cap, base * 2.0 ** max(count - 1, 0))


class _Result(Enum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    SUPPRESSED = "suppressed"  # not sent: the address bounced or complained before
    RELEASED = "released"  # not tried: the worker is stopping


@dataclass(frozen=True, slots=True)
class _Outcome:
    mail: OwedMail
    result: _Result
    detail: str = ""  # the message id when sent, else the error
    delay_seconds: float = 0.0


def build_mail_worker(db: Database, settings: Settings) -> MailWorker | None:
    """The worker for MAIL_* settings, None when MAIL_BACKEND is off (ConfigError: templates)."""
    transport = mail_transport(settings)
    if transport is None:
        return None
    events = MailEventsQueue(settings) if settings.mail_events_queue_url else None
    return MailWorker(db, settings, transport, events=events)


class MailWorker:
    """Owns the sending task: hand-off, reconciliation, claims, sends, outcomes."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        transport: Transport,
        timings: WorkerTimings | None = None,
        events: MailEventsQueue | None = None,
    ) -> None:
        self._timings = timings = timings or WorkerTimings()
        self._db = db
        self._transport = transport
        self._events = events
        # One long poll at a time, in a thread apart from the sends'.
        self._events_thread = ThreadPoolExecutor(1, thread_name_prefix="mail-events")
        self._events_task: asyncio.Task[None] | None = None
        self._fair_next: dict[str, float] = {}
        self._email = ConfirmationEmail(settings)  # reads and checks the templates
        self._load = CpuLoad(busy_above=timings.busy_above)
        self._batch = timings.claim_batch(settings.mail_rate, settings.mail_concurrency)
        self._interval = 1.0 / settings.mail_rate
        self.lease_seconds = timings.lease_for(
            settings.mail_rate, self._batch, transport.max_seconds
        )
        self._slots = asyncio.Semaphore(settings.mail_concurrency)
        self._threads = ThreadPoolExecutor(settings.mail_concurrency, thread_name_prefix="mail")
        self._next_start = 0.0
        self._was_busy = False
        self._handed: list[Handoff] = []
        self._outcomes: list[_Outcome] = []
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def registered(self, user_id: str, client: str = "") -> None:
        """Note a committed registration from `client`: its email is recorded and sent
        in the fair order. Never fails."""
        self._handed.append(Handoff(user_id, client or None, self._fair_delay(client)))
        self._wake.set()

    def _fair_delay(self, client: str) -> float:
        if not client:
            return 0.0
        now = time.monotonic()
        table = self._fair_next
        if len(table) >= self._timings.fair_table_size:
            for past in [c for c, slot in table.items() if slot <= now]:
                del table[past]
            if len(table) >= self._timings.fair_table_size:
                table.clear()  # a flood from that many addresses at once: order is moot
        start = max(now, table.get(client, now))
        table[client] = start + self._timings.fair_spacing_seconds
        return start - now

    def start(self) -> None:
        """Start sending in the background, and reading bounces when there is a queue."""
        self._load.start()
        self._task = asyncio.create_task(self._run(), name="mail-sender")
        if self._events is not None:
            self._events_task = asyncio.create_task(
                self._read_events(self._events), name="mail-events"
            )

    async def stop(self) -> None:
        """Finish the sends under way, record them and the hand-offs, hand back the rest.

        Bounded by `drain_seconds`; what is left then is not lost: its lease ends
        and another task (or the next start) sends it.
        """
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self._wake.set()
        if self._events_task is not None:
            # A poll under way ends in its thread within WAIT_SECONDS; unread
            # messages stay in the queue for the next task.
            self._events_task.cancel()
            with suppress(asyncio.CancelledError):
                await self._events_task
            self._events_thread.shutdown(wait=False, cancel_futures=True)
        try:
            async with asyncio.timeout(self._timings.drain_seconds):
                await asyncio.shield(task)
        except TimeoutError:
            _logger.warning("mail sender not drained in time; its claims fall due after the lease")
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        finally:
            # No new send starts; a send under way finishes in its thread.
            self._threads.shutdown(wait=False, cancel_futures=True)
            await self._load.stop()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_reconcile = loop.time()
        failures = 0
        while not self._stopping.is_set():
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
                _logger.warning("mail sender: database unavailable, will retry: %s", exc)
            except Exception:  # a bug must not end the sending for good: log, retry
                _logger.exception("mail sender: unexpected error, will retry")
            else:
                failures = 0
                if not busy:
                    await self._wait(self._wake, self._timings.poll_seconds)
                    if self._handed:
                        await self._wait(self._stopping, self._timings.handoff_linger_seconds)
                continue
            failures += 1
            await self._wait(self._stopping, self._timings.outage_wait(failures))
        await self._finish()

    async def _send_due(self) -> bool:
        claim = uuid.uuid4().hex
        owed = await mail_outbox.claim_due(self._db, claim, self._batch, self.lease_seconds)
        if not owed:
            return False
        await asyncio.gather(*map(self._deliver, owed))
        return True

    async def _deliver(self, owed: OwedMail) -> None:
        # Recorded as soon as sent: a process killed mid-batch then leaves only
        # the emails under way to be sent again when their lease ends.
        outcome = await self._attempt(owed)
        METRICS.email(outcome.result.value)
        try:
            await self._record(outcome)
        except DatabaseUnavailable as exc:
            _logger.warning("mail: outcome kept to record later: %s", exc)
            self._outcomes.append(outcome)
            return
        self._log(outcome)

    async def _attempt(self, mail: OwedMail) -> _Outcome:
        if mail.suppressed:
            return _Outcome(mail, _Result.SUPPRESSED)
        async with self._slots:
            if not await self._paced():
                return _Outcome(mail, _Result.RELEASED)
            try:
                message_id = await self._send(mail)
            except MailRejected as exc:
                return _Outcome(mail, _Result.FAILED, str(exc))
            except MailTemporarilyFailed as exc:
                delay = self._timings.retry_delay(mail.attempts)
                return _Outcome(mail, _Result.RETRY, str(exc), delay)
            return _Outcome(mail, _Result.SENT, message_id)

    async def _paced(self) -> bool:
        # Wait for this send's slot in the rate; False if stopping meanwhile.
        loop = asyncio.get_running_loop()
        start = max(loop.time(), self._next_start)
        self._next_start = start + self._current_interval()
        if start > loop.time():
            with suppress(TimeoutError):
                async with asyncio.timeout(start - loop.time()):
                    await self._stopping.wait()
        return not self._stopping.is_set()

    def _current_interval(self) -> float:
        busy = self._load.busy
        if busy != self._was_busy:
            self._was_busy = busy
            _logger.info(
                "mail: the process is %s (%.0f%% of a core): %s",
                "saturated" if busy else "no longer saturated",
                self._load.share * 100,
                "one email a second" if busy else "back to MAIL_RATE",
            )
        if busy:
            return max(self._interval, self._timings.busy_interval_seconds)
        return self._interval

    async def _send(self, mail: OwedMail) -> str:
        message = self._email.compose(mail)
        loop = asyncio.get_running_loop()
        bound = self._transport.max_seconds + self._timings.send_grace_seconds
        try:
            async with asyncio.timeout(bound):
                return await loop.run_in_executor(self._threads, self._transport.send, message)
        except TimeoutError:
            raise MailTemporarilyFailed(f"no answer within {bound:.0f} s") from None

    async def _record(self, outcome: _Outcome) -> None:
        # A released email is due again at once.
        mail = outcome.mail
        if outcome.result is _Result.SENT:
            await mail_outbox.mark_sent(self._db, mail.user_id, outcome.detail)
        elif outcome.result is _Result.RETRY:
            await mail_outbox.mark_retry(self._db, mail, outcome.delay_seconds, outcome.detail)
        elif outcome.result is _Result.FAILED:
            await mail_outbox.mark_failed(self._db, mail, outcome.detail)
        elif outcome.result is _Result.SUPPRESSED:
            await mail_outbox.mark_suppressed(self._db, mail)
        else:
            await mail_outbox.release(self._db, [mail])

    @staticmethod
    def _log(outcome: _Outcome) -> None:
        # The user id and the masked address, never the address.
        mail = outcome.mail
        fields = {
            "user_id": mail.user_id,
            "email": mask_email(mail.email),
            "attempt": mail.attempts,
        }
        if outcome.result is _Result.SENT:
            _logger.info("confirmation email sent", extra={**fields, "message_id": outcome.detail})
        elif outcome.result is _Result.RETRY:
            _logger.warning(
                "confirmation email not sent, retrying in %.1f s: %s",
                outcome.delay_seconds,
                outcome.detail,
                extra=fields,
            )
        elif outcome.result is _Result.FAILED:
            _logger.error("confirmation email refused for good: %s", outcome.detail, extra=fields)
        elif outcome.result is _Result.SUPPRESSED:
            _logger.info("confirmation email not sent: the address is suppressed", extra=fields)

    async def _record_handed(self) -> None:
        # Those handed over until now; the ones arriving during these INSERTs wait for
        # the next round. Writing until none was left wrote one small INSERT per
        # round trip for as long as registrations kept coming, and sent nothing.
        left = len(self._handed)
        while left > 0:
            batch = self._handed[: min(left, self._timings.handoff_batch)]
            await mail_outbox.add(self._db, batch)
            del self._handed[: len(batch)]
            left -= len(batch)

    async def _reconcile(self) -> None:
        limit = self._timings.reconcile_batch
        while True:
            ids = await mail_outbox.find_unrecorded(self._db, self._timings.window_seconds, limit)
            if ids:
                await mail_outbox.add(self._db, ids)
                _logger.info("mail: recorded %d registrations that had no email recorded", len(ids))
            if len(ids) < limit:
                return

    async def _record_outcomes(self) -> None:
        # Kept in memory until written: a database blip after a send must not
        # make the email due again (a duplicate) while its lease still runs.
        while self._outcomes:
            outcome = self._outcomes[0]
            await self._record(outcome)
            self._outcomes.pop(0)
            self._log(outcome)

    async def _finish(self) -> None:
        try:
            await self._record_outcomes()
            while self._handed:
                await self._record_handed()
        except DatabaseUnavailable as exc:
            _logger.warning(
                "mail sender stopped with %d outcomes and %d hand-offs unrecorded"
                " (leases and reconciliation recover them): %s",
                len(self._outcomes),
                len(self._handed),
                exc,
            )

    async def _read_events(self, queue: MailEventsQueue) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                messages = await loop.run_in_executor(self._events_thread, queue.receive)
                for message in messages:
                    await self._handle_event(queue, message)
            except DatabaseUnavailable as exc:
                _logger.warning("mail events: database unavailable, will retry: %s", exc)
            except Exception:  # SQS unreachable, a bug: log, wait, poll again
                _logger.exception("mail events: reading the queue failed, will retry")
            else:
                continue
            await asyncio.sleep(self._timings.events_retry_seconds)

    async def _handle_event(self, queue: MailEventsQueue, message: QueuedMessage) -> None:
        try:
            record = read_event(message.body)
        except MailEventUnreadable as exc:
            unreadable = str(exc)
        else:
            unreadable = ""
        if unreadable:
            # Left in the queue: after 5 receives SQS moves it to the dead-letter queue.
            _logger.error(
                "mail events: unreadable message left to the dead-letter queue: %s", unreadable
            )
            return
        if record is not None:
            await self._record_event(record)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._events_thread, queue.delete, message)

    async def _record_event(self, record: MailEventRecord) -> None:
        # Suppressed first: an address that bounced must not be mailed again even
        # if marking its outbox row fails; both are idempotent on redelivery.
        await mail_suppressions.suppress(
            self._db, record.suppress, record.reason, record.message_id
        )
        marked = await mail_outbox.mark_event(self._db, record.message_id, record.event)
        _logger.info(
            "mail event recorded: %s",
            record.event,
            extra={
                "message_id": record.message_id,
                "outbox_rows": marked,
                "suppressed": [mask_email(a) for a in record.suppress],
            },
        )

    @staticmethod
    async def _wait(event: asyncio.Event, seconds: float) -> None:
        with suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()
