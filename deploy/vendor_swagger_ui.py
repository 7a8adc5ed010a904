"""Vendor the Swagger UI files /docs serves, from npm's swagger-ui-dist at the locked version.

PyPI has no maintained package of Swagger UI 5 (swagger-ui-bundle stops at 4.15.5),
so the two files the page needs come from npm's registry: the tarball of the exact
version in deploy/swagger-ui/package-lock.json, checked against the lock's sha512
`integrity` before anything is read from it. The files land in controllers/swagger_ui/
with SHA256SUMS, which tests/controllers/test_docs.py checks them against.

    .venv/bin/python deploy/vendor_swagger_ui.py   # after changing the version:
    (cd deploy/swagger-ui && npm install --package-lock-only --ignore-scripts)
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "deploy" / "swagger-ui" / "package-lock.json"
TARGET = ROOT / "controllers" / "swagger_ui"
PACKAGE = "swagger-ui-dist"
FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE")
REGISTRY = "https://registry.npmjs.org"


def locked() -> tuple[str, str]:
    """The locked version of swagger-ui-dist and its sha512 integrity (base64)."""
    entry = json.loads(LOCK.read_text())["packages"][f"node_modules/{PACKAGE}"]
    algorithm, _, digest = entry["integrity"].partition("-")
    if algorithm != "sha512":
        raise SystemExit(f"{LOCK}: integrity is {algorithm}, not sha512")
    return entry["version"], digest


def main() -> int:
    """Fetch, verify and unpack the locked tarball's FILES into TARGET."""
    version, integrity = locked()
    url = f"{REGISTRY}/{PACKAGE}/-/{PACKAGE}-{version}.tgz"
    with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 (a fixed https URL)
        tarball = answer.read()
    if base64.b64encode(hashlib.sha512(tarball).digest()).decode() != integrity:
        print(f"{url}: sha512 differs from {LOCK.name}'s integrity", file=sys.stderr)
        return 1
    TARGET.mkdir(exist_ok=True)
    sums = []
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for name in FILES:
            member = archive.extractfile(f"package/{name}")
            if member is None:
                raise SystemExit(f"{url} has no {name}")
            data = member.read()
            (TARGET / name).write_bytes(data)
            sums.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    (TARGET / "SHA256SUMS").write_text("".join(sums))
    (TARGET / "VERSION").write_text(f"{PACKAGE} {version}\n")
    print(f"vendored {PACKAGE} {version} into {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
