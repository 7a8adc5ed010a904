"""`python index.py COMMAND` in its own process, as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.service_process import ROOT

# Variables of the developer's shell that would point a command at another database.
_SERVICE_PREFIXES = (
    "DB_", "PARAM_", "AWS_", "CORS_", "STAFF_", "PROGRAMS", "LOG_", "PORT", "MAIL_", "SCHOOL_"
)  # fmt: skip


def cli_environment(environment: dict[str, str]) -> dict[str, str]:
    """This process's environment without service variables, plus `environment`."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(_SERVICE_PREFIXES)}
    return {**inherited, **environment}


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
