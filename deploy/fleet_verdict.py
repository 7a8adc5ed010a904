"""The fleet check's verdict: what the client was told against what was stored and mailed.

Pure: it reads the load generator's records, the `users` rows and the emails
counted per recipient, and returns the counts, the problems and the one summary
line. Times are seconds since the load started, on one monotonic clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# Answers a client re-sends: the balancer's own errors, and the service's "try again".
RETRIED_STATUSES = frozenset({502, 503, 504})
# After HAProxy marks the killed server DOWN, answers from it still on their way back.
KILL_GRACE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Attempt:
    """One send of a registration: when, and what came back (`status` None: no answer)."""

    started: float
    ended: float
    status: int | None
    error: str | None = None
    # HAProxy's name of the server that answered (its X-Fleet-Server header).
    server: str | None = None


@dataclass(slots=True)
class Registration:
    """One applicant: the identical request sent until a final answer; the id of its 201."""

    email: str
    scheduled: float
    attempts: list[Attempt] = field(default_factory=list)
    user_id: str | None = None

    @property
    def answered(self) -> bool:
        """The last attempt got a 201."""
        return bool(self.attempts) and self.attempts[-1].status == 201


@dataclass(frozen=True, slots=True)
class Kill:
    """The server killed with SIGKILL: from the signal until it was reaped, and when
    HAProxy's health check marked it DOWN."""

    server: str
    at: float
    dead_at: float
    down_at: float

    def explains(self, attempt: Attempt) -> bool:
        """True when `attempt` failed because it was in flight on the killed process."""
        if attempt.status is not None and attempt.status not in RETRIED_STATUSES:
            return False
        if attempt.status is None:
            # No answer at all: only a request under way while the process died.
            return attempt.started <= self.dead_at and attempt.ended >= self.at
        return (
            attempt.server == self.server
            and self.at <= attempt.ended <= self.down_at + KILL_GRACE_SECONDS
        )

    def explains_email(self, senders: Sequence[str]) -> bool:
        """True for an email the killed process sent but died before recording, sent again.

        Sending and recording cannot be one atomic step: an email sent an instant
        before the SIGKILL is owed still, and goes again when its lease ends.
        """
        return len(senders) == 2 and senders.count(self.server) == 1


@dataclass(frozen=True, slots=True)
class Verdict:
    """The counts of one run and every problem found; no problem means nothing was lost."""

    sent: int
    answered: int
    stored: int
    lost: int
    resent: int
    resent_by_kill: int
    emails_once: int
    emails_twice_by_kill: int
    problems: tuple[str, ...]
    p50_ms: float
    p99_ms: float

    @property
    def passed(self) -> bool:
        """True when nothing was lost, doubled or answered untruthfully."""
        return not self.problems

    def summary(self, duration: float, extra: Sequence[str] = ()) -> str:
        """The one line the check prints."""
        failed = self.sent - self.answered
        line = (
            f"fleet-check: {self.sent} sent, {self.stored} stored, {self.lost} lost, "
            f"{self.resent} re-sent ({self.resent_by_kill} in flight on the killed process), "
            f"{failed} failed, emails {self.emails_once}/{self.stored} exactly once"
            f" ({self.emails_twice_by_kill} twice: sent by the killed process, not recorded), "
            f"duration {duration:.1f} s, p50 {self.p50_ms:.0f} ms, p99 {self.p99_ms:.0f} ms"
        )
        problems = [*extra, *self.problems]
        if problems:
            shown = "; ".join(problems[:5]) + (f"; +{len(problems) - 5} more" * (len(problems) > 5))
            return f"{line}: FAILED: {shown}"
        return f"{line}: passed"


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    # Rounded first: 0.99 * 100 is 99.00000000000001 in floating point.
    rank = max(1, math.ceil(round(fraction * len(ordered), 9)))
    return ordered[min(rank, len(ordered)) - 1]


def judge(
    registrations: Sequence[Registration],
    stored: Mapping[str, str],
    emails: Mapping[str, Sequence[str]],
    kill: Kill | None,
) -> Verdict:
    """Compare the client's records, `stored` (email -> id) and `emails` (recipient -> senders)."""
    problems: list[str] = []
    answered = [r for r in registrations if r.answered]
    failed = [r for r in registrations if not r.answered]
    if failed:
        last = failed[0].attempts[-1] if failed[0].attempts else None
        problems.append(
            f"{len(failed)} registrations without a 201 (first: {failed[0].email}, "
            f"last answer {last.status if last else None} {last.error if last else ''})"
        )

    told = {r.email: r.user_id for r in answered}
    lost = [email for email, user_id in told.items() if stored.get(email) != user_id]
    if lost:
        problems.append(f"{len(lost)} 201s not stored under the id answered (first: {lost[0]})")
    untold = [email for email in stored if email not in told]
    if untold:
        problems.append(f"{len(untold)} rows stored without a 201 (first: {untold[0]})")
    if len(told) != len(answered):
        problems.append(f"{len(answered) - len(told)} emails answered 201 twice in the load")

    resent = [r for r in registrations if len(r.attempts) > 1]
    others = [
        r for r in resent if kill is None or not all(kill.explains(a) for a in r.attempts[:-1])
    ]
    if others:
        first = others[0].attempts[0]
        problems.append(
            f"{len(others)} re-sent for another reason than the kill "
            f"(first: {first.status or first.error} from {first.server} at {first.started:.2f} s)"
        )

    sent = {email: emails.get(email, ()) for email in stored}
    once = sum(1 for senders in sent.values() if len(senders) == 1)
    missing = sum(1 for senders in sent.values() if not senders)
    twice_by_kill = sum(
        1 for senders in sent.values() if kill is not None and kill.explains_email(senders)
    )
    doubled = sum(1 for senders in sent.values() if len(senders) > 1) - twice_by_kill
    strays = sum(1 for email in emails if email not in stored)
    for count, what in (
        (missing, "stored registrations never emailed"),
        (doubled, "registrations emailed more than once"),
        (strays, "emails to an address that is not stored"),
    ):
        if count:
            problems.append(f"{count} {what}")

    latencies = [(r.attempts[-1].ended - r.scheduled) * 1000 for r in answered]
    return Verdict(
        sent=len(registrations),
        answered=len(answered),
        stored=len(stored),
        lost=len(lost),
        resent=len(resent),
        resent_by_kill=len(resent) - len(others),
        emails_once=once,
        emails_twice_by_kill=twice_by_kill,
        problems=tuple(problems),
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
    )
