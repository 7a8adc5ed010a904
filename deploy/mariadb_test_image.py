#!/usr/bin/env python3
"""Build the MariaDB server image the integration tests reach through testcontainers.

    .venv/bin/python deploy/mariadb_test_image.py [--tag localhost/schoolapp-mariadb-test:10.11]

No registry is reachable, so it is built as the image check builds its base:
an mmdebstrap tarball of this machine's Debian with `mariadb-server`
(base_standin.py, cached), imported into podman, plus deploy/mariadb-test/'s
entrypoint, which bootstraps the root password and database from MYSQL_* as
the official images do. It installs podman, runc, netavark, slirp4netns and
mmdebstrap when missing. An image already built from the same tarball and
files is kept as it is. The tag names Debian's MariaDB, never `mysql:8.0`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from base_standin import BaseTarball
from debian_packages import DebianPackages
from image_check import timed
from podman_cli import ImageCheckError, Podman

CONTEXT = Path(__file__).resolve().parent / "mariadb-test"
DEFAULT_TAG = "localhost/schoolapp-mariadb-test:10.11"
SERVER_PACKAGE = "mariadb-server"
# slirp4netns: podman's bridge needs iptables, which these machines lack.
PODMAN_PACKAGES = ("podman", "runc", "netavark", "slirp4netns")
INPUTS_LABEL = "org.schoolapp.inputs"


def _inputs(tarball: Path) -> str:
    """What the image is made of: the tarball's name and age, and the build context."""
    digest = hashlib.sha256(f"{tarball.name} {tarball.stat().st_mtime_ns}".encode())
    for path in sorted(CONTEXT.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _built(podman: Podman, tag: str) -> tuple[str, str] | None:
    """The image ID and inputs label of `tag`, if it exists."""
    result = podman.call(
        ["image", "inspect", "--format", f'{{{{.Id}}}} {{{{index .Labels "{INPUTS_LABEL}"}}}}', tag]
    )
    if result.returncode != 0:
        return None
    image_id, _, inputs = result.stdout.strip().partition(" ")
    return image_id, inputs


def _server_version(podman: Podman, image: str) -> str:
    """The mariadb-server version dpkg lists in `image`."""
    root = Path(podman.run("image", "mount", image).strip())
    try:
        status = (root / "var/lib/dpkg/status").read_text()
    finally:
        podman.run("image", "unmount", image)
    for stanza in status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line)
        if fields.get("Package") == SERVER_PACKAGE and "installed" in fields.get("Status", ""):
            return fields["Version"]
    raise ImageCheckError(f"{image} has no {SERVER_PACKAGE} installed")


def build_image(stack: ExitStack, workdir: Path, tag: str = DEFAULT_TAG) -> Podman:
    """Build `tag` (unless it is current); podman, set up as the image check sets it up."""
    packages = DebianPackages()
    with timed("mmdebstrap ready"):
        packages.ensure("mmdebstrap")
    tarballs = stack.enter_context(BaseTarball(workdir, packages=(SERVER_PACKAGE,), name="mariadb"))
    with timed("podman ready"):
        installed = packages.ensure(*PODMAN_PACKAGES)
        podman = Podman(workdir)
        print(f"  podman {podman.version()}; installed now: {', '.join(installed) or 'nothing'}")
    with timed("MariaDB base tarball"):
        tarball = tarballs.wait()
        how = "cached" if tarballs.cached else f"mmdebstrap took {tarballs.build_seconds:.1f} s"
        print(f"  base: {tarball} ({how})")
    inputs = _inputs(tarball)
    previous = _built(podman, tag)
    if previous is not None and previous[1] == inputs:
        print(f"  {tag} is current (inputs {inputs}): kept")
        return podman
    base = f"localhost/schoolapp-mariadb-test-base:{os.getpid()}-{secrets.token_hex(3)}"
    stack.callback(podman.run, "rmi", "--force", "--ignore", base)
    with timed(f"{tag} built"):
        podman.run("import", str(tarball), base)
        podman.run(
            "build",
            "--pull=never",
            f"--from={base}",
            "--layers=false",
            "--force-rm",
            f"--label={INPUTS_LABEL}={inputs}",
            f"--tag={tag}",
            str(CONTEXT),
        )
    version = _server_version(podman, tag)
    # Debian's version is "1:10.11.19-0+deb12u1"; the tag promises the 10.11.
    if not version.partition(":")[2].startswith(f"{tag.rpartition(':')[2]}."):
        podman.run("rmi", "--force", tag)
        raise ImageCheckError(f"{tag} would hold MariaDB {version}: tag it with that version")
    print(f"  {tag}: Debian's mariadb-server {version}")
    if previous is not None and previous != _built(podman, tag):
        # The image the tag named before; a container still using it keeps it.
        replaced = podman.call(["rmi", previous[0]])
        print(f"  previous image {previous[0][:12]}: {replaced.stderr.strip() or 'removed'}")
    return podman


def main() -> int:
    """Build the image; 0 when it is there, 1 with the reason if not."""
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--tag", default=DEFAULT_TAG, help=f"default {DEFAULT_TAG}")
    tag = parser.parse_args().tag
    try:
        with tempfile.TemporaryDirectory(prefix="mariadb-test-image-") as tmp, ExitStack() as stack:
            build_image(stack, Path(tmp), tag)
    except ImageCheckError as exc:
        print(f"MariaDB test image FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
