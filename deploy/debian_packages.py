"""The Debian packages the image check needs, installed with apt-get when missing."""

from __future__ import annotations

import os
import subprocess

from podman_cli import ImageCheckError

APT_TIMEOUT_SECONDS = 300.0


def _installed(package: str) -> bool:
    result = subprocess.run(  # noqa: S603 - fixed program, a package name of ours
        ["dpkg-query", "--show", "--showformat=${db:Status-Status}", package],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() == "installed"


def _apt_get(*args: str) -> None:
    try:
        result = subprocess.run(  # noqa: S603 - fixed program, arguments of ours
            ["apt-get", "-qq", *args],  # noqa: S607
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            text=True,
            timeout=APT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ImageCheckError(f"apt-get {args[0]} cannot run: {exc}") from exc
    if result.returncode != 0:
        raise ImageCheckError(
            f"apt-get {' '.join(args)} failed ({result.returncode}): {result.stderr[-2000:]}"
        )


class DebianPackages:
    """Installs what is missing; the package lists are refreshed once, before the first."""

    def __init__(self) -> None:
        self._updated = False

    def ensure(self, *packages: str) -> list[str]:
        """Install those of `packages` that are not installed; the ones it installed."""
        missing = [package for package in packages if not _installed(package)]
        if missing:
            if not self._updated:
                _apt_get("update")
                self._updated = True
            _apt_get("install", "--yes", "--no-install-recommends", *missing)
        return missing
