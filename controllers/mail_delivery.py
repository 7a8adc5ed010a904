"""Sending one claimed email: paced, in a bounded thread, its outcome decided.

boto3 blocks, so each send runs in a thread of a pool of MAIL_CONCURRENCY
threads of the sender's own (never the event loop's default pool, which
reading AWS credentials shares). Sends start at most MAIL_RATE a second (SES's
sending quota), and one a second while the process is saturated: a send costs
about 2 ms of CPU (boto3 signs and parses in Python, measured), which
registrations need more when they use every cycle.
"""

from __future__ import annotations

import asyncio
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress

from config.cpu_load import CpuLoad
from config.mail_transport import MailRejected, MailTemporarilyFailed, Transport
from controllers.mail_message import ConfirmationEmail
from controllers.mail_outcome import Outcome, Result
from models.mail_outbox import OwedMail

logger = logging.getLogger("schoolapp.mail")

# A little beyond a transport's own bound: a send that overruns it is abandoned
# (its thread finishes on its own) and retried, as it may not have gone.
SEND_GRACE_SECONDS = 1.0
# While the loop is saturated, emails still trickle out at this pace.
BUSY_INTERVAL_SECONDS = 1.0


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: about base * 2**(attempts - 1), at most `cap`.

    "Equal jitter": half the step fixed, half random, so that senders throttled
    together spread out yet each waits longer after every failure.
    """
    step = min(cap, base * 2.0 ** max(attempts - 1, 0))
    return step / 2 + random.uniform(0, step / 2)  # noqa: S311 (jitter, not a secret)


class Delivery:
    """Sends claimed emails through one transport, paced and bounded."""

    def __init__(
        self,
        transport: Transport,
        email: ConfirmationEmail,
        load: CpuLoad,
        *,
        rate: float,
        concurrency: int,
        retry_base: float,
        retry_cap: float,
    ) -> None:
        self._transport = transport
        self._email = email
        self._load = load
        self._was_busy = False
        self._interval = 1.0 / rate
        self._retry = (retry_base, retry_cap)
        self._slots = asyncio.Semaphore(concurrency)
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="mail")
        self._next_start = 0.0
        self.stopping = asyncio.Event()

    async def deliver(self, mail: OwedMail) -> Outcome:
        """Send `mail` unless stopping; the outcome, whatever happened."""
        async with self._slots:
            if not await self._paced():
                return Outcome(mail, Result.RELEASED)
            try:
                message_id = await self._send(mail)
            except MailRejected as exc:
                return Outcome(mail, Result.FAILED, str(exc))
            except MailTemporarilyFailed as exc:
                delay = retry_delay(mail.attempts, *self._retry)
                return Outcome(mail, Result.RETRY, str(exc), delay)
            return Outcome(mail, Result.SENT, message_id)

    def close(self) -> None:
        """Let no new send start; a send under way finishes in its thread."""
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def _paced(self) -> bool:
        # Wait for this send's slot in the rate; False if stopping meanwhile.
        loop = asyncio.get_running_loop()
        start = max(loop.time(), self._next_start)
        self._next_start = start + self._current_interval()
        if start > loop.time():
            with suppress(TimeoutError):
                async with asyncio.timeout(start - loop.time()):
                    await self.stopping.wait()
        return not self.stopping.is_set()

    def _current_interval(self) -> float:
        busy = self._load.busy
        if busy != self._was_busy:
            self._was_busy = busy
            logger.info(
                "mail: the process is %s (%.0f%% of a core): %s",
                "saturated" if busy else "no longer saturated",
                self._load.share * 100,
                "one email a second" if busy else "back to MAIL_RATE",
            )
        return max(self._interval, BUSY_INTERVAL_SECONDS) if busy else self._interval

    async def _send(self, mail: OwedMail) -> str:
        message = self._email.compose(mail)
        loop = asyncio.get_running_loop()
        bound = self._transport.max_seconds + SEND_GRACE_SECONDS
        try:
            async with asyncio.timeout(bound):
                return await loop.run_in_executor(self._threads, self._transport.send, message)
        except TimeoutError:
            raise MailTemporarilyFailed(f"no answer within {bound:.0f} s") from None
