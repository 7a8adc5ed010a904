"""`python index.py COMMAND` in its own process, as an operator runs it."""

from __future__ import annotations

import subprocess
import sys

from tests.support.environment import without_service_variables
from tests.support.service_process import ROOT


def cli_environment(environment: dict[str, str]) -> dict[str, str]:
    """This process's environment without the service's variables, plus `environment`."""
    return {**without_service_variables(), **environment}


def start_cli(args: list[str], environment: dict[str, str]) -> subprocess.Popen[str]:
    """Start `python index.py ARGS`; stdout and stderr are captured as text."""
    return subprocess.Popen(
        [sys.executable, "index.py", *args],
        cwd=ROOT,
        env=cli_environment(environment),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_cli(
    args: list[str], environment: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python index.py ARGS` to its end."""
    return subprocess.run(
        [sys.executable, "index.py", *args],
        cwd=ROOT,
        env=cli_environment(environment),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
