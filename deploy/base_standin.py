"""A local stand-in for the Dockerfile's base image, since no registry is reachable.

`python:3.11-slim` is Debian with Python 3.11, pip and ca-certificates. The
stand-in is the same from this machine's own Debian sources: mmdebstrap's
minbase with python3, python3-pip, python-is-python3 (the Dockerfile runs
`python`) and ca-certificates, imported into podman and given to `podman build
--from`, so the FROM line stays as ECS's builds use it. Debian marks its Python
as externally managed (PEP 668) and pip would refuse the Dockerfile's system
install; the official image's Python is not, so the stand-in drops the marker.
The tarball is cached, keyed by the sources and everything else that shapes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from podman_cli import ImageCheckError, Podman

CACHE_DIR = Path("/var/cache/schoolapp-image-check")
PACKAGES = ("python3", "python3-pip", "python-is-python3", "ca-certificates")


def mmdebstrap_options(packages: tuple[str, ...]) -> tuple[str, ...]:
    """mmdebstrap's options for a minbase tarball with `packages`."""
    return (
        "--variant=minbase",
        "--format=tar",
        f"--include={','.join(packages)}",
        # /usr merged by a hook rather than the usrmerge package, which pulls in perl.
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        '--customize-hook=rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',
    )


MMDEBSTRAP_OPTIONS = mmdebstrap_options(PACKAGES)
# Security updates land in the sources' suites; a week-old stand-in is rebuilt.
MAX_AGE_SECONDS = 7 * 24 * 3600
MMDEBSTRAP_TIMEOUT_SECONDS = 600.0
MMDEBSTRAP_STOP_SECONDS = 120.0
SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))
FROM_PYTHON = re.compile(r"^FROM\s+(?:docker\.io/(?:library/)?)?python:(\d+\.\d+)\S*", re.MULTILINE)


def python_version_of(dockerfile: Path) -> str:
    """The X.Y of the Dockerfile's `FROM python:X.Y-...` line."""
    match = FROM_PYTHON.search(dockerfile.read_text())
    if match is None:
        raise ImageCheckError(f"{dockerfile}: no `FROM python:X.Y...` line to stand in for")
    return match.group(1)


def _debian_sources() -> Path:
    for path in SOURCES:
        if path.is_file() and path.read_text().strip():
            return path
    raise ImageCheckError(f"no Debian apt sources for mmdebstrap (looked at {SOURCES})")


def _suite() -> str:
    release = dict(
        line.split("=", 1)
        for line in Path("/etc/os-release").read_text().splitlines()
        if "=" in line
    )
    suite = release.get("VERSION_CODENAME", "").strip('"')
    if not suite:
        raise ImageCheckError("/etc/os-release has no VERSION_CODENAME for mmdebstrap")
    return suite


class BaseTarball:
    """The stand-in's root filesystem as a tarball: from the cache, or built in the background.

    mmdebstrap takes half a minute or more, so it starts on entry and runs while
    the caller does other work (installing podman); `wait()` collects it. Leaving
    the context stops a build still running and removes its partial tarball.
    `packages` are what it holds; `name` prefixes its cache file, so tarballs of
    other packages do not evict each other.
    """

    def __init__(
        self,
        workdir: Path,
        cache_dir: Path = CACHE_DIR,
        packages: tuple[str, ...] = PACKAGES,
        name: str = "base",
    ) -> None:
        self._sources, self._suite = _debian_sources(), _suite()
        mmdebstrap = shutil.which("mmdebstrap")
        if mmdebstrap is None:
            raise ImageCheckError("mmdebstrap is not on PATH")
        self._mmdebstrap = mmdebstrap
        version = subprocess.run(  # noqa: S603 - a fixed argument
            [mmdebstrap, "--version"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        self._options = mmdebstrap_options(packages)
        shape = [self._sources.read_text(), self._suite, self._options, version]
        key = hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]
        self._cache_dir = cache_dir
        self._name = name
        self.path = cache_dir / f"{name}-{key}.tar"
        self._partial = cache_dir / f"{name}-{key}.partial-{workdir.name}.tar"
        self._log = workdir / "mmdebstrap.log"
        self.cached = (
            self.path.is_file() and time.time() - self.path.stat().st_mtime < MAX_AGE_SECONDS
        )
        self.build_seconds = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._started = 0.0

    def __enter__(self) -> BaseTarball:
        if not self.cached:
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            self._started = time.monotonic()
            with self._log.open("wb") as log:
                try:
                    self._process = subprocess.Popen(  # noqa: S603 - arguments built here
                        [
                            self._mmdebstrap,
                            *self._options,
                            self._suite,
                            str(self._partial),
                            str(self._sources),
                        ],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                except OSError as exc:
                    raise ImageCheckError(f"mmdebstrap cannot run: {exc}") from exc
        return self

    def wait(self) -> Path:
        """The tarball, once mmdebstrap (if it had to run) has finished."""
        if self._process is None:
            return self.path
        try:
            status = self._process.wait(timeout=MMDEBSTRAP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            raise ImageCheckError(
                f"mmdebstrap ran over {MMDEBSTRAP_TIMEOUT_SECONDS:.0f} s"
            ) from None
        self._process = None
        self.build_seconds = time.monotonic() - self._started
        if status != 0:
            tail = "\n".join(self._log.read_text(errors="replace").splitlines()[-15:])
            raise ImageCheckError(f"mmdebstrap failed ({status}):\n{tail}")
        self._partial.rename(self.path)  # atomic: a concurrent run sees all of it or none
        for stale in self._cache_dir.glob(f"{self._name}-*.tar"):
            if stale != self.path and ".partial-" not in stale.name:
                stale.unlink(missing_ok=True)
        return self.path

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is not None:
            # On SIGTERM mmdebstrap finishes its current phase, then unmounts and removes
            # its temporary root; SIGKILL would leave both, so only if it hangs.
            process.terminate()
            try:
                process.wait(timeout=MMDEBSTRAP_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._partial.unlink(missing_ok=True)


def import_base(podman: Podman, tarball: Path, tag: str, python_version: str) -> None:
    """Import the tarball as `tag` and check it has the Python the FROM line names."""
    podman.run(
        "import",
        "--change",
        "ENV LANG=C.UTF-8",
        "--change",
        'CMD ["python3"]',
        str(tarball),
        tag,
    )
    root = Path(podman.run("image", "mount", tag).strip())
    try:
        if not (root / "usr/bin" / f"python{python_version}").is_file():
            raise ImageCheckError(
                f"the Dockerfile's base is Python {python_version}, and this machine's "
                f"Debian has no python{python_version}: the stand-in would not be that image"
            )
    finally:
        podman.run("image", "unmount", tag)
