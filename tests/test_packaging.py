"""`pip install .` installs the service: index.py, cli.py and its packages, their data files too.

The wheel is built (as pip builds it, in an isolated environment from PyPI) from a
copy of the checkout, since setuptools writes build/ and *.egg-info beside the
sources it builds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICE_PACKAGES = ("config", "controllers", "mail", "models", "routes")
NOT_SHIPPED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".*_cache", ".hypothesis", "build", "dist", "*.egg-info"
)
# Data a package may come to hold: a template directory and a file beside the modules.
PROBES = ("mail/templates/probe.html", "models/probe.sql")
# What a checkout that has run holds and a wheel must not.
BYTECODE = "models/__pycache__/probe.cpython-311.pyc"


def run(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A copy of the checkout with the probe files added, and the wheel built from it."""
    source = tmp_path_factory.mktemp("packaging") / "checkout"
    shutil.copytree(ROOT, source, ignore=NOT_SHIPPED)
    for probe in (*PROBES, BYTECODE):
        (source / probe).parent.mkdir(exist_ok=True)
        (source / probe).write_text("data\n")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", "dist", ".", cwd=source)
    (wheel,) = (source / "dist").glob("*.whl")
    return source, wheel


def test_the_wheel_holds_the_service_and_nothing_else(built: tuple[Path, Path]) -> None:
    source, wheel = built
    names = set(zipfile.ZipFile(wheel).namelist())
    top_level = {name.split("/")[0] for name in names}
    dist_info = {name for name in top_level if name.endswith(".dist-info")}
    assert top_level - dist_info == {"index.py", "cli.py", *SERVICE_PACKAGES}
    modules = {
        path.relative_to(source).as_posix()
        for package in SERVICE_PACKAGES
        for path in (source / package).rglob("*.py")
    }
    assert modules <= names, sorted(modules - names)
    assert set(PROBES) <= names
    assert not {name for name in names if "__pycache__" in name or name.endswith(".pyc")}


def test_the_installed_service_imports_outside_the_checkout(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    site = tmp_path / "site"
    install = ("install", "-q", "--no-deps", "--target", str(site), str(built[1]))
    run(sys.executable, "-m", "pip", *install, cwd=tmp_path)
    # -P: the current directory is not on the path, only the installed copy is.
    code = "import index, cli, config.settings; print(index.__file__, cli.__file__)"
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = run(sys.executable, "-P", "-c", code, cwd=tmp_path, env=env)
    assert {Path(module).parent for module in where.split()} == {site}
