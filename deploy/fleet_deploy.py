"""The rolling deploy: each old process replaced by a new one, one at a time, one killed.

As ECS does with a minimum of 100 % healthy: the new task starts and passes the
health check before the old one is deregistered (drained: no new requests, its
requests in flight finished), then stopped with SIGTERM. Before one step, the
old process is killed with SIGKILL instead, and HAProxy's health check alone
takes it out of service.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from fleet_haproxy import HAProxy
from fleet_services import Service
from fleet_verdict import Kill

UP_TIMEOUT_SECONDS = 15.0
DOWN_TIMEOUT_SECONDS = 10.0
DRAIN_TIMEOUT_SECONDS = 30.0
BUSY_TIMEOUT_SECONDS = 5.0


@dataclass
class RollingDeploy:
    """Replaces `slots[i][0]` by `slots[i][1]` at `t0 + marks[i]`; kills slot `kill_slot` first."""

    haproxy: HAProxy
    slots: Sequence[tuple[Service, Service]]
    marks: Sequence[float]
    kill_slot: int
    t0: float
    kill: Kill | None = None
    # Exit status of every process stopped with SIGTERM: 0 is a clean shutdown.
    exits: dict[str, int] = field(default_factory=dict)
    first_new_up: float | None = None
    finished_at: float | None = None

    def now(self) -> float:
        """Seconds since the load started."""
        return time.monotonic() - self.t0

    def note(self, what: str) -> None:
        """One line of progress on stderr (stdout holds only the summary)."""
        print(f"  {self.now():6.1f} s  {what}", file=sys.stderr, flush=True)

    def run(self) -> None:
        """Every step, each at its mark or as soon as the previous one is done."""
        for index, (old, new) in enumerate(self.slots):
            time.sleep(max(0.0, self.marks[index] - self.now()))
            if index == self.kill_slot:
                self._kill(old)
            self._replace(old, new)
        self.finished_at = self.now()

    def retire(self, service: Service) -> None:
        """Drain `service` through HAProxy, wait for its requests, stop it with SIGTERM."""
        self.haproxy.set_state(service.name, "drain")
        self.haproxy.wait_idle(service.name, DRAIN_TIMEOUT_SECONDS)
        self.haproxy.set_state(service.name, "maint")
        self.exits[service.name] = service.stop_gracefully()
        self.note(f"{service.name} drained, stopped with SIGTERM: exit {self.exits[service.name]}")

    def _kill(self, old: Service) -> None:
        # At an instant it has requests in flight, so that some are cut.
        self.haproxy.wait_busy(old.name, BUSY_TIMEOUT_SECONDS)
        at = self.now()
        old.kill()
        dead_at = self.now()
        self.note(f"{old.name} killed with SIGKILL")
        self.haproxy.wait_status(old.name, "DOWN", DOWN_TIMEOUT_SECONDS)
        self.kill = Kill(old.name, at, dead_at, self.now())
        self.note(f"{old.name} marked DOWN by the health check")

    def _replace(self, old: Service, new: Service) -> None:
        new.start()
        new.wait_serving()
        self.haproxy.set_state(new.name, "ready")
        self.haproxy.wait_status(new.name, "UP", UP_TIMEOUT_SECONDS)
        if self.first_new_up is None:
            self.first_new_up = self.now()
        self.note(f"{new.name} UP")
        if self.kill is not None and self.kill.server == old.name:
            self.haproxy.set_state(old.name, "maint")
        else:
            self.retire(old)
