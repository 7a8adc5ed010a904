#!/usr/bin/env python3
"""Build the Dockerfile with podman and check the image runs as ECS runs it.

    bash .ci/image-check

1. podman must run here: it installs podman, runc, netavark and mmdebstrap from
   Debian when missing, and FAILS if podman then cannot run (it never skips);
2. the base image is a stand-in built from this machine's Debian (base_standin.py),
   in the background while podman installs;
3. the Dockerfile's RDS CA step downloads a test bundle from a loopback server:
   once with a wrong RDS_CA_SHA256, which must fail the build, then for real;
4. the image holds nothing from tests/, .git or .venv, and the pinned bundle;
5. the container, on the host network against a throw-away database on the local
   server, answers /health and /health/ready, registers an applicant, runs as a
   non-root uid as the container's PID 1, passes its HEALTHCHECK, and exits 0 on
   SIGTERM well inside ECS's 30 s; all on a read-only root filesystem (`--read-only`,
   as ReadonlyRootFilesystem) with a tmpfs /tmp, where the email lands (MAIL_DIR),
   and its metrics reach stdout as EMF lines.

Everything it made (container, images, database) is removed at the end, on
failure and on SIGTERM/SIGINT too. The server is TEST_MYSQL_URL
(mysql://user:password@host:port) or 127.0.0.1:3306 as root.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType

from base_standin import BaseTarball, import_base, python_version_of
from ca_bundle_server import BundleServer, make_ca_bundle
from debian_packages import DebianPackages
from image_probes import (
    MAIL_DIR,
    ThrowAwayDatabase,
    check_image_files,
    check_running_service,
    free_loopback_port,
    stop_with_sigterm,
    wait_until_serving,
)
from podman_cli import ImageCheckError, Podman

ROOT = Path(__file__).resolve().parent.parent
CI_BUDGET_SECONDS = 120.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# netavark: podman 4.3 does not start without a network backend, even for --network=host.
PODMAN_PACKAGES = ("podman", "runc", "netavark")
HOST_CA_BUNDLE = Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"))


@contextmanager
def timed(what: str) -> Iterator[None]:
    """Print how long `what` took."""
    started = time.monotonic()
    yield
    print(f"  {what}: {time.monotonic() - started:.1f} s", flush=True)


def build(podman: Podman, base: str, tag: str, ca_url: str, ca_sha256: str) -> tuple[int, str]:
    """`podman build` of the Dockerfile on the stand-in; its exit status and output."""
    if not HOST_CA_BUNDLE.is_file():
        raise ImageCheckError(f"no CA bundle at {HOST_CA_BUNDLE} for the build's pip")
    result = podman.call(
        [
            "build",
            "--pull=never",
            f"--from={base}",
            # Host network: the loopback bundle server; PyPI through the host's route.
            "--network=host",
            # Docker's format keeps HEALTHCHECK (OCI's has no such field).
            "--format=docker",
            "--layers=false",
            "--force-rm",
            # The host's bundle trusts whatever the host's pip trusts; mounted, not copied.
            f"--volume={HOST_CA_BUNDLE.resolve()}:/etc/ssl/certs/ca-certificates.crt:ro",
            f"--build-arg=RDS_CA_URL={ca_url}",
            f"--build-arg=RDS_CA_SHA256={ca_sha256}",
            f"--tag={tag}",
            f"--file={ROOT / 'Dockerfile'}",
            str(ROOT),
        ],
        timeout=300,
    )
    return result.returncode, result.stdout + result.stderr


def check(stack: ExitStack, workdir: Path) -> None:
    """Every step above; each thing made is registered on `stack` for removal."""
    run_id = f"{os.getpid()}-{secrets.token_hex(3)}"
    base = f"localhost/schoolapp-image-check-base:{run_id}"
    image = f"localhost/schoolapp-image-check:{run_id}"
    refused = f"{image}-refused"
    container = f"schoolapp-image-check-{run_id}"

    packages = DebianPackages()
    with timed("mmdebstrap ready"):
        packages.ensure("mmdebstrap")
    tarballs = stack.enter_context(BaseTarball(workdir))
    # The stand-in builds (when not cached) while podman installs: a fresh machine's
    # two slowest steps, side by side.
    with timed("podman ready"):
        installed = packages.ensure(*PODMAN_PACKAGES)
        podman = Podman(workdir)
        version = podman.version()
        print(f"  podman {version} with runc; installed now: {', '.join(installed) or 'nothing'}")
    stack.callback(leftovers, podman)
    with timed("stand-in base tarball"):
        tarball = tarballs.wait()
        how = "cached" if tarballs.cached else f"mmdebstrap took {tarballs.build_seconds:.1f} s"
        print(f"  base: {tarball} ({how})")
    stack.callback(podman.run, "rmi", "--force", "--ignore", base)
    with timed("stand-in imported"):
        import_base(podman, tarball, base, python_version_of(ROOT / "Dockerfile"))

    server = stack.enter_context(BundleServer(make_ca_bundle()))
    stack.callback(podman.run, "rmi", "--force", "--ignore", refused)
    with timed("wrong RDS_CA_SHA256 refused"):
        status, output = build(podman, base, refused, server.url, "0" * 64)
        if status == 0 or "does not match RDS_CA_SHA256" not in output:
            raise ImageCheckError(
                f"a wrong RDS_CA_SHA256 did not fail the build at the CA step "
                f"(status {status}):\n{output[-3000:]}"
            )
    stack.callback(podman.run, "rmi", "--force", "--ignore", image)
    with timed("image built"):
        downloads = server.downloads
        status, output = build(podman, base, image, server.url, server.sha256)
        if status != 0:
            raise ImageCheckError(f"podman build failed ({status}):\n{output[-4000:]}")
        if server.downloads == downloads:
            raise ImageCheckError("the build did not download the RDS CA bundle from RDS_CA_URL")
    with timed("image contents"):
        check_image_files(podman, image, ROOT / "tests", server.bundle)

    database = stack.enter_context(
        ThrowAwayDatabase(f"schoolapp_image_check_{secrets.token_hex(4)}")
    )
    port = free_loopback_port()
    env_file = workdir / "service.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in service_env(port, database).items()))
    stack.callback(podman.run, "rm", "--force", "--ignore", "--time=0", container)
    with timed(f"container serving on 127.0.0.1:{port}"):
        podman.run(
            "run",
            "--detach",
            f"--name={container}",
            "--network=host",
            f"--env-file={env_file}",
            # As the task definition's ReadonlyRootFilesystem, with /tmp writable.
            "--read-only",
            "--tmpfs=/tmp:rw,nosuid,nodev,size=64m",
            image,
        )
        wait_until_serving(podman, container, port)
    with timed("service checks"):
        check_running_service(podman, container, port, database, server.bundle)
    stop_with_sigterm(podman, container)


def service_env(port: int, database: ThrowAwayDatabase) -> dict[str, object]:
    """The container's variables: local mode against the throw-away database."""
    return {
        "PORT": port,
        **database.env,
        # Local mode sends its emails as .eml files: on the one writable path, as ECS's /tmp.
        "MAIL_DIR": MAIL_DIR,
        "METRICS_INTERVAL_SECONDS": "1",
    }


def leftovers(podman: Podman) -> None:
    """Fail if a container or image of this run is still there after the cleanup."""
    pid = f"{os.getpid()}-"
    # --external: the working containers of an interrupted `podman build` too.
    names = podman.run("ps", "--all", "--external", "--format", "{{.Names}} {{.Image}}").split()
    tags = podman.run("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    left = [n for n in names + tags if "schoolapp-image-check" in n and pid in n]
    if left:
        raise ImageCheckError(f"cleanup left {', '.join(left)}")


def stop_by_signal(signum: int, frame: FrameType | None) -> None:
    """Turn a stop signal into a failure, so the cleanup runs; further signals wait for it."""
    for each in STOP_SIGNALS:
        signal.signal(each, signal.SIG_IGN)
    raise ImageCheckError(f"stopped by {signal.Signals(signum).name}")


def run_check(
    name: str, what: str, check: Callable[[ExitStack, Path], None], budget: float, started: float
) -> int:
    """Run `check` in a fresh directory; 0 if it held, 1 with `NAME FAILED: ...` if not.

    A stop signal fails the check, so what it registered on the stack is removed.
    """
    for signum in STOP_SIGNALS:
        signal.signal(signum, stop_by_signal)
    print(f"{name}: {what}", flush=True)
    failed = False
    try:
        with (
            tempfile.TemporaryDirectory(prefix=f"{name.replace(' ', '-')}-") as tmp,
            ExitStack() as stack,
        ):
            check(stack, Path(tmp))
    except ImageCheckError as exc:
        failed = True
        # A cleanup that fails after a failed step: both are told, the cause first.
        errors: list[BaseException] = [exc]
        while isinstance(errors[-1].__context__, ImageCheckError):
            errors.append(errors[-1].__context__)
        for error in reversed(errors):
            print(f"{name} FAILED: {error}", file=sys.stderr, flush=True)
    elapsed = time.time() - started
    print(
        f"{name} {'FAILED' if failed else 'passed'} in {elapsed:.0f} s "
        f"(budget {budget:.0f} s{'' if elapsed <= budget else ', OVER'})"
    )
    return 1 if failed else 0


def main() -> int:
    """Run the check; 0 when everything held, 1 with `image check FAILED: ...` if not."""
    return run_check(
        "image check",
        "build the Dockerfile with podman and run it as ECS does",
        check,
        CI_BUDGET_SECONDS,
        float(os.environ.get("IMAGE_CHECK_STARTED") or time.time()),
    )


if __name__ == "__main__":
    sys.exit(main())
