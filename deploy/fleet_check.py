#!/usr/bin/env python3
"""A rolling deploy under load, on this machine: nothing lost, every email sent once.

    make fleet-check                        # 60 s of load
    make fleet-check FLEET_ARGS=--quick     # 20 s (CI)

1. installs Debian's haproxy when missing; makes a throw-away database on the
   local server (TEST_MYSQL_URL, or 127.0.0.1:3306 as root), dropped at the end;
2. starts three processes of this tree (v1) behind HAProxy on loopback, which
   stands in for the ALB: health checks on GET /health, draining through its API;
3. sends registrations at a steady rate through HAProxy, each with its own
   address and Idempotency-Key, re-sending a failed one identically;
4. meanwhile replaces the processes one by one with v2, a copy of the tree with
   one more migration (a nullable column on mail_outbox: expand only), and
   kills one v1 process with SIGKILL before its turn;
5. waits for the outbox to drain, then compares the answers, the `users` rows
   and the `.eml` files, and prints ONE summary line; exits 1 on any loss.

Every process it starts runs in a process group of its own and is killed at
the end, on failure and on SIGTERM/SIGINT too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType

from fleet_deploy import RollingDeploy
from fleet_errors import FleetError
from fleet_evidence import emails_sent, schema_problems, stored, wait_for_outbox
from fleet_haproxy import HAProxy, ensure_installed
from fleet_load import send_registrations
from fleet_release import NEW_COLUMN, build_next_version
from fleet_services import Service
from fleet_verdict import Registration, judge
from image_probes import ThrowAwayDatabase, free_loopback_port
from podman_cli import ImageCheckError

ROOT = Path(__file__).resolve().parent.parent
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
SLOTS = ("a", "b", "c")
# When each replacement starts, as a fraction of the load's duration; the second
# slot's old process is the one killed.
MARKS = (0.15, 0.40, 0.65)
KILL_SLOT = 1
# uvicorn re-raises SIGTERM once its graceful shutdown is done (as a container's
# PID 1, which ignores it, the service exits 0).
CLEAN_EXITS = (0, -signal.SIGTERM)
# The killed process's claimed emails come back after their 60 s lease.
OUTBOX_TIMEOUT_SECONDS = 180.0
SERVICE_ENVIRONMENT = {
    # No access log line a request: the figures are the service's, not its logging's.
    "LOG_LEVEL": "warning",
    # The emails keep up with the registrations (the default is SES's first quota).
    "MAIL_RATE": "1000",
    "MAIL_CONCURRENCY": "8",
    # HAProxy stands in for the ALB: its X-Forwarded-For entry is believed, so each
    # registration has its own client address (deploy/fleet_load.py), as in production.
    "TRUSTED_PROXIES": "127.0.0.1/32",
    # 300 a second for a minute is the load under test, not a flood to refuse.
    "RATE_LIMIT_REGISTER": "off",
    "RATE_LIMIT_MISMATCH": "off",
}


@dataclass(frozen=True)
class Options:
    """How much load, for how long."""

    rate: float
    seconds: float


def parse(argv: list[str]) -> Options:
    """--quick: 20 s of load (CI); the default: 60 s."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="20 s of load instead of 60")
    parser.add_argument("--rate", type=float, default=300.0, help="registrations a second")
    parser.add_argument("--seconds", type=float, help="seconds of load (overrides --quick)")
    args = parser.parse_args(argv)
    seconds = args.seconds or (20.0 if args.quick else 60.0)
    if args.rate <= 0 or seconds <= 0:
        parser.error("--rate and --seconds must be positive")
    return Options(rate=args.rate, seconds=seconds)


def note(what: str) -> None:
    """Progress on stderr; stdout holds only the summary."""
    print(f"  {what}", file=sys.stderr, flush=True)


async def _under_load(
    deploy: RollingDeploy, url: str, options: Options, run_id: str
) -> tuple[list[Registration], str | None]:
    deploying = asyncio.create_task(asyncio.to_thread(deploy.run))
    count = round(options.rate * options.seconds)
    registrations = await send_registrations(url, options.rate, count, deploy.t0, run_id)
    try:
        await deploying
    except FleetError as exc:
        return registrations, f"deploy failed: {exc}"
    return registrations, None


def check(stack: ExitStack, workdir: Path, options: Options) -> tuple[str, bool]:
    """Every step above; the summary line and whether it passed."""
    installed = ensure_installed()
    note(f"haproxy ready (installed now: {', '.join(installed) or 'nothing'})")
    run_id = secrets.token_hex(4)
    database = stack.enter_context(ThrowAwayDatabase(f"schoolapp_fleet_{run_id}"))
    revision = build_next_version(ROOT, workdir / "v2")
    environment = {**database.env, **SERVICE_ENVIRONMENT}
    olds = [Service(f"v1{s}", ROOT, free_loopback_port(), environment, workdir) for s in SLOTS]
    news = [
        Service(f"v2{s}", workdir / "v2", free_loopback_port(), environment, workdir) for s in SLOTS
    ]
    for service in (*olds, *news):
        stack.callback(service.clean_up)
    servers = [(s.name, s.port, s in olds) for s in (*olds, *news)]
    haproxy = HAProxy(workdir, free_loopback_port(), servers)
    stack.callback(haproxy.stop)
    haproxy.start()
    for service in olds:
        service.start()
    for service in olds:
        service.wait_serving()
        haproxy.wait_status(service.name, "UP", 15)
    note(f"v1 x3 UP behind haproxy on {haproxy.url}; v2 = v1 + migration {revision}")

    t0 = time.monotonic()
    marks = [fraction * options.seconds for fraction in MARKS]
    deploy = RollingDeploy(haproxy, list(zip(olds, news, strict=True)), marks, KILL_SLOT, t0)
    # asyncio's own loop: a stop signal's exception leaves it (uvloop only logs it).
    registrations, deploy_failure = asyncio.run(
        _under_load(deploy, f"{haproxy.url}/api/register", options, run_id),
    )
    load_end = time.monotonic() - t0
    duration = max((r.attempts[-1].ended for r in registrations if r.attempts), default=0.0)
    deploy.note(f"load done: {len(registrations)} registrations")

    extra = [deploy_failure] if deploy_failure else []
    if deploy.finished_at is not None and deploy.finished_at > load_end:
        extra.append(f"the deploy ended {deploy.finished_at - load_end:.1f} s after the load")
    owed = wait_for_outbox(database, OUTBOX_TIMEOUT_SECONDS)
    deploy.note("outbox drained" if owed is None else owed)
    extra += [owed] if owed else []
    extra += schema_problems(database, revision, NEW_COLUMN)
    extra += _old_beside_new(registrations, deploy)
    for service in news:
        if service.process is not None and service.process.poll() is None:
            deploy.retire(service)
    extra += [
        f"{name} exited {code} on SIGTERM"
        for name, code in deploy.exits.items()
        if code not in CLEAN_EXITS
    ]
    for service in (*olds, *news):
        # Told, not failed: an error the service recovers from loses nothing.
        if errors := service.log().count('"level":"error"'):
            note(f"{service.name} logged {errors} error lines")

    verdict = judge(registrations, stored(database), emails_sent(workdir / "mail"), deploy.kill)
    if not verdict.passed or extra:
        _keep_resent(registrations, workdir / "resent.json")
    return verdict.summary(duration, extra), verdict.passed and not extra


def _keep_resent(registrations: list[Registration], path: Path) -> None:
    """Every attempt of each registration sent more than once, for the post-mortem."""
    resent = [asdict(r) for r in registrations if len(r.attempts) > 1]
    path.write_text(json.dumps(resent, indent=1))


def _old_beside_new(registrations: list[Registration], deploy: RollingDeploy) -> list[str]:
    """v1 must have stored registrations after v2 migrated the schema (expand only)."""
    since = deploy.first_new_up
    if since is None:
        return []
    beside = sum(
        1
        for r in registrations
        if r.answered
        and r.attempts[-1].started > since
        and (r.attempts[-1].server or "").startswith("v1")
    )
    return [] if beside else ["no v1 process stored a registration after the migration"]


def _stop(signum: int, frame: FrameType | None) -> None:
    """Turn a stop signal into a failure, so the cleanup runs; further signals wait for it."""
    for each in STOP_SIGNALS:
        signal.signal(each, signal.SIG_IGN)
    raise FleetError(f"stopped by {signal.Signals(signum).name}")


def main(argv: list[str]) -> int:
    """Run the check: 0 when nothing was lost, 1 otherwise."""
    options = parse(argv)
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop)
    note(f"fleet check: {options.rate:.0f} registrations/s for {options.seconds:.0f} s")
    workdir = Path(tempfile.mkdtemp(prefix="fleet-check-"))
    passed = False
    try:
        with ExitStack() as stack:
            summary, passed = check(stack, workdir, options)
        print(summary, flush=True)
    # A group too: a stop signal may land inside the load's task group.
    except* ImageCheckError as failures:
        print(f"fleet-check: FAILED: {failures.exceptions[0]}", flush=True)
    if passed:
        shutil.rmtree(workdir)
    else:
        note(f"logs and emails kept in {workdir}")
    return 0 if passed else 1


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main(sys.argv[1:]))
