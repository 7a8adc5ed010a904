"""How the confirmation-email sender paces itself; the defaults are production's."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SenderTimings:
    """How the sender paces itself; the defaults are production's."""

    # How often an idle sender looks for emails due (retries, other tasks' rows).
    poll_seconds: float = 2.0
    reconcile_seconds: float = 60.0
    # Registrations older than this with no outbox row are never emailed.
    window_seconds: int = 7 * 24 * 3600
    # A claim not finished within this falls due again for any sender.
    lease_seconds: float = 60.0
    retry_base_seconds: float = 1.0
    retry_cap_seconds: float = 900.0
    # With the 1 s drain and uvicorn's 20 s, within the task's 40 s stopTimeout
    # (docs/mail.md); this bounds the sender's part.
    drain_seconds: float = 8.0
    # The process using more than this share of a core: saturated, one email a
    # second (config/cpu_load.py). Under wrk it uses 90-100 %; ECS scales out at
    # 60 % of the task's CPU.
    busy_above: float = 0.75
