"""The fleet check's verdict (deploy/fleet_verdict.py): every kind of loss fails it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy"))

from fleet_verdict import Attempt, Kill, Registration, judge, percentile

KILL = Kill(server="v1b", at=10.0, dead_at=10.05, down_at=11.0)


def answered(number: int, started: float = 1.0, server: str = "v1a") -> Registration:
    """A registration answered 201 at its first attempt."""
    registration = Registration(f"a{number}@example.com", scheduled=started)
    registration.attempts.append(Attempt(started, started + 0.02, 201, None, server))
    registration.user_id = f"id-{number}"
    return registration


def world(
    registrations: list[Registration],
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """What a faultless service leaves: one row and one email per 201."""
    stored = {r.email: str(r.user_id) for r in registrations}
    return stored, {email: ["v1a"] for email in stored}


def test_a_faultless_run_passes_with_its_counts() -> None:
    registrations = [answered(n) for n in range(10)]
    verdict = judge(registrations, *world(registrations), KILL)
    assert verdict.passed
    assert (verdict.sent, verdict.stored, verdict.lost, verdict.emails_once) == (10, 10, 0, 10)
    assert verdict.summary(12.0).endswith("passed")


def test_a_201_whose_row_is_missing_is_lost() -> None:
    registrations = [answered(n) for n in range(3)]
    stored, emails = world(registrations)
    del stored[registrations[1].email]
    verdict = judge(registrations, stored, emails, KILL)
    assert verdict.lost == 1
    assert "FAILED" in verdict.summary(1.0)


def test_a_201_naming_another_id_than_the_row_is_untruthful() -> None:
    registrations = [answered(n) for n in range(3)]
    stored, emails = world(registrations)
    stored[registrations[0].email] = "some-other-id"
    assert judge(registrations, stored, emails, KILL).lost == 1


def test_a_row_stored_without_a_201_fails() -> None:
    registrations = [answered(n) for n in range(3)]
    stored, emails = world(registrations)
    stored["ghost@example.com"] = "id-ghost"
    emails["ghost@example.com"] = ["v1a"]
    verdict = judge(registrations, stored, emails, KILL)
    assert any("without a 201" in p for p in verdict.problems)


def test_a_registration_never_answered_201_fails() -> None:
    registration = Registration("x@example.com", 1.0)
    registration.attempts += [Attempt(1.0, 1.1, 503, None, "v1a")] * 5
    assert not judge([registration], {}, {}, KILL).passed


def resent_after(first: Attempt) -> Registration:
    registration = Registration("r@example.com", first.started)
    registration.attempts += [
        first,
        Attempt(first.ended + 0.2, first.ended + 0.3, 201, None, "v1a"),
    ]
    registration.user_id = "id-r"
    return registration


@pytest.mark.parametrize(
    "first",
    [
        Attempt(9.9, 10.0, 502, None, "v1b"),  # cut at the kill
        Attempt(10.5, 10.6, 502, None, "v1b"),  # sent on before the health check saw it
        Attempt(9.5, 10.4, None, "RemoteProtocolError"),  # under way at the kill
        Attempt(10.01, 10.04, None, "RemoteProtocolError"),  # sent while it died
    ],
)
def test_a_resend_of_a_request_in_flight_on_the_killed_process_is_allowed(first: Attempt) -> None:
    registrations = [resent_after(first)]
    verdict = judge(registrations, *world(registrations), KILL)
    assert verdict.passed, verdict.problems
    assert (verdict.resent, verdict.resent_by_kill) == (1, 1)


@pytest.mark.parametrize(
    "first",
    [
        Attempt(9.9, 10.0, 502, None, "v1a"),  # another server: a drain that cut a request
        Attempt(3.0, 3.1, 502, None, "v1b"),  # the killed server, long before the kill
        Attempt(20.0, 20.1, 502, None, "v1b"),  # long after HAProxy took it out
        Attempt(12.0, 12.5, None, "ReadTimeout"),  # no answer, not under way at the kill
        Attempt(9.0, 9.9, None, "RemoteProtocolError"),  # no answer, ended before the kill
    ],
)
def test_any_other_resend_fails(first: Attempt) -> None:
    registrations = [resent_after(first)]
    verdict = judge(registrations, *world(registrations), KILL)
    assert any("another reason" in p for p in verdict.problems)


def test_without_a_kill_every_resend_fails() -> None:
    registrations = [resent_after(Attempt(9.9, 10.0, 502, None, "v1b"))]
    assert not judge(registrations, *world(registrations), None).passed


def test_an_email_never_sent_fails() -> None:
    registrations = [answered(n) for n in range(3)]
    stored, emails = world(registrations)
    del emails[registrations[2].email]
    verdict = judge(registrations, stored, emails, KILL)
    assert any("never emailed" in p for p in verdict.problems)
    assert verdict.emails_once == 2


def test_an_email_sent_twice_by_live_processes_fails() -> None:
    registrations = [answered(n) for n in range(3)]
    stored, emails = world(registrations)
    emails[registrations[0].email] = ["v1a", "v2a"]
    verdict = judge(registrations, stored, emails, KILL)
    assert any("more than once" in p for p in verdict.problems)


def test_an_email_the_killed_process_sent_unrecorded_and_another_resent_is_told() -> None:
    registrations = [answered(n) for n in range(3)]
    stored, emails = world(registrations)
    emails[registrations[0].email] = ["v1b", "v2b"]
    verdict = judge(registrations, stored, emails, KILL)
    assert verdict.passed
    assert (verdict.emails_once, verdict.emails_twice_by_kill) == (2, 1)
    emails[registrations[0].email] = ["v1b", "v2b", "v2c"]
    assert not judge(registrations, stored, emails, KILL).passed


def test_an_email_to_an_address_never_stored_fails() -> None:
    registrations = [answered(n) for n in range(2)]
    stored, emails = world(registrations)
    emails["nobody@example.com"] = ["v1a"]
    assert not judge(registrations, stored, emails, KILL).passed


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile([], 0.5)) == (
        50.0,
        99.0,
        0.0,
    )
