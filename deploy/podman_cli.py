"""podman as the image check runs it: rootful, daemonless, with a containers.conf of its own.

The machines have no Docker engine. Debian's podman builds and runs the Dockerfile
once it is told to use runc and to ask for no resource limit above what it may
set: this machine's root lacks CAP_SYS_RESOURCE, so runc cannot raise a limit,
and podman's defaults (1048576 open files, nproc = pid_max) are above the hard
limits here. A podman that cannot run is an error, never a reason to skip.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

# Every call has a ceiling, so a hung podman fails the check instead of CI's 90 minutes.
DEFAULT_TIMEOUT_SECONDS = 300.0
TERMINATE_SECONDS = 10.0
PID_MAX = Path("/proc/sys/kernel/pid_max")


class ImageCheckError(Exception):
    """A step of the image check failed, or a check did; the message says which."""


def _hard_limit(kind: int, ceiling: int) -> int:
    hard = resource.getrlimit(kind)[1]
    return ceiling if hard == resource.RLIM_INFINITY else min(hard, ceiling)


def containers_conf() -> str:
    """The containers.conf: runc, cgroupfs, no systemd, limits podman may really set."""
    # podman lowers its own nproc to pid_max at start; conmon and runc inherit that.
    nproc = _hard_limit(resource.RLIMIT_NPROC, int(PID_MAX.read_text()))
    nofile = _hard_limit(resource.RLIMIT_NOFILE, 1048576)
    return (
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )


class Podman:
    """Runs podman commands with the image check's containers.conf."""

    def __init__(self, workdir: Path) -> None:
        config = workdir / "containers.conf"
        config.write_text(containers_conf())
        # CONTAINERS_CONF replaces the machine's files: the same settings everywhere.
        self._env = {**os.environ, "CONTAINERS_CONF": str(config)}
        self._executable = shutil.which("podman")

    def version(self) -> str:
        """podman's version, once `podman info` has shown that it works here."""
        if self._executable is None:
            raise ImageCheckError(
                "podman cannot run: it is not on PATH, though the check installs Debian's "
                "podman, runc and netavark when dpkg does not list them"
            )
        info = self.run("info", "--format", "{{.Host.OCIRuntime.Name}} {{.Version.Version}}")
        runtime, _, version = info.strip().partition(" ")
        if runtime != "runc":
            raise ImageCheckError(f"podman cannot run: OCI runtime is {runtime!r}, not runc")
        return version

    def run(self, *args: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> str:
        """Run `podman ARGS`; its stdout, or ImageCheckError with its stderr."""
        result = self.call(args, timeout=timeout)
        if result.returncode != 0:
            raise ImageCheckError(
                f"podman {' '.join(args[:2])} failed ({result.returncode}): "
                f"{result.stderr.strip()[-2000:]}"
            )
        return result.stdout

    def call(
        self, args: Sequence[str], timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> subprocess.CompletedProcess[str]:
        """Run `podman ARGS` and return what happened, whatever its exit status."""
        if self._executable is None:
            raise ImageCheckError("podman cannot run: it is not on PATH")
        try:
            process = subprocess.Popen(  # noqa: S603 - argv built by this module, no shell
                [self._executable, *args],
                env=self._env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        except OSError as exc:
            raise ImageCheckError(f"podman cannot run: {exc}") from exc
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            terminate_group(process)
            raise ImageCheckError(f"podman {' '.join(args[:2])} ran over {timeout:.0f} s") from None
        except BaseException:
            terminate_group(process)
            raise
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def start(self, args: Sequence[str], output: IO[bytes]) -> subprocess.Popen[bytes]:
        """Start `podman ARGS` writing to `output`, for one that runs until stopped."""
        if self._executable is None:
            raise ImageCheckError("podman cannot run: it is not on PATH")
        try:
            return subprocess.Popen(  # noqa: S603 - argv built by this module, no shell
                [self._executable, *args],
                env=self._env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ImageCheckError(f"podman cannot run: {exc}") from exc


def terminate_group(process: subprocess.Popen[Any]) -> None:
    """SIGTERM first: an interrupted `podman build` then removes its working container."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.communicate(timeout=TERMINATE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
