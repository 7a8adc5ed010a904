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
import re
import subprocess
import time
from pathlib import Path

from podman_cli import ImageCheckError, Podman

CACHE_DIR = Path("/var/cache/schoolapp-image-check")
PACKAGES = ("python3", "python3-pip", "python-is-python3", "ca-certificates")
MMDEBSTRAP_OPTIONS = (
    "--variant=minbase",
    "--format=tar",
    f"--include={','.join(PACKAGES)}",
    # /usr merged by a hook rather than the usrmerge package, which pulls in perl.
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    '--customize-hook=rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',
)
# Security updates land in the sources' suites; a week-old stand-in is rebuilt.
MAX_AGE_SECONDS = 7 * 24 * 3600
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


def _mmdebstrap(*args: str, log: Path, timeout: float) -> None:
    with log.open("w") as out:
        try:
            result = subprocess.run(  # noqa: S603 - fixed program, arguments built here
                ["mmdebstrap", *args],  # noqa: S607 - found on PATH like apt itself
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ImageCheckError(f"mmdebstrap cannot run: {exc}") from exc
    if result.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise ImageCheckError(f"mmdebstrap failed ({result.returncode}):\n{tail}")


def base_tarball(workdir: Path, cache_dir: Path = CACHE_DIR) -> tuple[Path, bool]:
    """The stand-in's root filesystem as a tarball, and whether it came from the cache."""
    sources, suite = _debian_sources(), _suite()
    version = subprocess.run(
        ["mmdebstrap", "--version"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    key = hashlib.sha256(
        json.dumps([sources.read_text(), suite, MMDEBSTRAP_OPTIONS, version]).encode()
    ).hexdigest()[:16]
    tarball = cache_dir / f"base-{key}.tar"
    if tarball.is_file() and time.time() - tarball.stat().st_mtime < MAX_AGE_SECONDS:
        return tarball, True
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cache_dir / f"base-{key}.partial-{workdir.name}.tar"
    try:
        _mmdebstrap(
            *MMDEBSTRAP_OPTIONS,
            suite,
            str(partial),
            str(sources),
            log=workdir / "mmdebstrap.log",
            timeout=600,
        )
        partial.rename(tarball)  # atomic: a concurrent run sees all of it or none
    finally:
        partial.unlink(missing_ok=True)
    for stale in cache_dir.glob("base-*.tar"):
        if stale != tarball and ".partial-" not in stale.name:
            stale.unlink(missing_ok=True)
    return tarball, False


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
