"""deploy/release.py: the release command, against fake `docker` and `aws` commands.

The fakes record every call (arguments, and what came in on stdin) and answer
like the real ones. A dry run must print the same commands and call neither.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "deploy" / "release.py"
REGION = "eu-west-1"
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
REPOSITORY_URI = f"{REGISTRY}/schoolapp-repo"
OLD_REVISION = "arn:aws:ecs:eu-west-1:123456789012:task-definition/schoolapp-api:7"
NEW_REVISION = "arn:aws:ecs:eu-west-1:123456789012:task-definition/schoolapp-api:8"
ECR_PASSWORD = "fake-ecr-password-0123456789"
CURRENT_TASK_DEFINITION = {
    "taskDefinitionArn": OLD_REVISION,
    "family": "schoolapp-api",
    "revision": 7,
    "status": "ACTIVE",
    "taskRoleArn": "arn:aws:iam::123456789012:role/task",
    "executionRoleArn": "arn:aws:iam::123456789012:role/execution",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "compatibilities": ["EC2", "FARGATE"],
    "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}],
    "cpu": "256",
    "memory": "512",
    "containerDefinitions": [
        {
            "name": "api",
            "image": f"{REPOSITORY_URI}:0123abc",
            "stopTimeout": 30,
            "portMappings": [{"containerPort": 3000, "protocol": "tcp"}],
        }
    ],
    "registeredAt": "2026-11-01T10:00:00+00:00",
    "registeredBy": "arn:aws:iam::123456789012:user/ci",
}

FAKE = """#!{python}
import json, os, sys
from pathlib import Path

tool, args = Path(sys.argv[0]).name, sys.argv[1:]
entry = {{"tool": tool, "args": args}}
if tool == "docker" and args[:1] == ["login"]:
    entry["stdin"] = sys.stdin.read()
if "--cli-input-json" in args:
    uri = args[args.index("--cli-input-json") + 1]
    entry["input"] = json.loads(Path(uri.removeprefix("file://")).read_text())
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(entry) + "\\n")
answers = {{
    "ecr batch-get-image": os.environ["FAKE_IMAGE_COUNT"],
    "ecr get-login-password": {password!r},
    "ecs describe-task-definition": json.dumps({current}),
    "ecs register-task-definition": {new!r},
    "ecs update-service": "arn:aws:ecs:eu-west-1:123456789012:service/c/s",
    "ecs describe-services": os.environ["FAKE_PRIMARY"],
}}
if tool == "aws":
    print(answers.get(" ".join(args[:2]), ""))
"""


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    calls: list[dict[str, Any]]

    def printed(self) -> list[list[str]]:
        """The commands the script printed ("+ " lines), a pipe's two sides apart."""
        commands: list[list[str]] = []
        for line in self.stdout.splitlines():
            if line.startswith("+ "):
                words = shlex.split(line[2:])
                while "|" in words:
                    commands.append(words[: words.index("|")])
                    words = words[words.index("|") + 1 :]
                commands.append(words)
        return commands

    def ran(self) -> list[list[str]]:
        return [[call["tool"], *call["args"]] for call in self.calls]


Release = Callable[..., Run]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def work_tree(tmp_path: Path) -> Path:
    """A committed git work tree with a Dockerfile."""
    repo = tmp_path / "work"
    repo.mkdir()
    (repo / "Dockerfile").write_text('FROM scratch\nCMD ["python", "index.py"]\n')
    git(repo, "init", "--quiet")
    git(repo, "add", "Dockerfile")
    identity = ("-c", "user.name=Test", "-c", "user.email=test@example.invalid")
    git(repo, *identity, "-c", "commit.gpgsign=false", "commit", "--quiet", "-m", "first")
    return repo


@pytest.fixture
def release(tmp_path: Path, work_tree: Path) -> Release:
    """Runs deploy/release.py with only git and the fakes on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = FAKE.format(
        python=sys.executable,
        password=ECR_PASSWORD,
        current=json.dumps(CURRENT_TASK_DEFINITION),
        new=NEW_REVISION,
    )
    for tool in ("docker", "aws"):
        (bin_dir / tool).write_text(fake)
        (bin_dir / tool).chmod(0o755)
    real_git = shutil.which("git")
    assert real_git is not None
    (bin_dir / "git").symlink_to(real_git)
    log = tmp_path / "calls.jsonl"

    def run(*extra: str, image_count: str = "0", primary: str = NEW_REVISION) -> Run:
        env = {
            "PATH": str(bin_dir),
            "HOME": str(tmp_path),
            "FAKE_LOG": str(log),
            "FAKE_IMAGE_COUNT": image_count,
            "FAKE_PRIMARY": primary,
        }
        args: Sequence[str] = (
            "--region", REGION, "--repository-uri", REPOSITORY_URI,
            "--cluster", "schoolapp-cluster", "--service", "schoolapp-service",
            "--task-family", "schoolapp-api", "--context", str(work_tree), *extra,
        )  # fmt: skip
        done = subprocess.run(
            [sys.executable, str(RELEASE), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        log.unlink(missing_ok=True)
        return Run(done.returncode, done.stdout, done.stderr, calls)

    return run


def expected_order(commit: str) -> list[str]:
    """A prefix of each command, in the order the release runs them."""
    image = f"{REPOSITORY_URI}:{commit}"
    return [
        f"aws ecr batch-get-image --repository-name schoolapp-repo --image-ids imageTag={commit}",
        "docker build --platform linux/amd64",
        f"aws ecr get-login-password --region {REGION}",
        f"docker login --username AWS --password-stdin {REGISTRY}",
        f"docker tag schoolapp-repo:{commit} {image}",
        f"docker push {image}",
        "aws ecs describe-task-definition --task-definition schoolapp-api",
        "aws ecs register-task-definition --cli-input-json",
        "aws ecs update-service --cluster schoolapp-cluster --service schoolapp-service",
        "aws ecs wait services-stable --cluster schoolapp-cluster --services schoolapp-service",
        "aws ecs describe-services --cluster schoolapp-cluster --services schoolapp-service",
    ]


def assert_in_order(commands: list[list[str]], prefixes: list[str]) -> None:
    lines = [" ".join(command) for command in commands]
    assert len(lines) == len(prefixes), lines
    for line, prefix in zip(lines, prefixes, strict=True):
        assert line.startswith(prefix), (line, prefix)


def test_dry_run_prints_every_command_and_runs_none(release: Release, work_tree: Path) -> None:
    commit = git(work_tree, "rev-parse", "HEAD")
    run = release("--dry-run")
    assert run.returncode == 0, run.stderr
    assert run.calls == []
    assert_in_order(run.printed(), expected_order(commit))
    # The login is one pipe: the password never appears on a command line.
    login = f"+ aws ecr get-login-password --region {REGION} | docker login"
    assert any(line.startswith(login) for line in run.stdout.splitlines())
    for command in run.printed():
        if command[0] == "aws":
            assert command[-2:] == ["--region", REGION]
    assert run.printed()[1][-3:] == ["--tag", f"schoolapp-repo:{commit}", str(work_tree)]


def test_release_runs_what_it_prints(release: Release, work_tree: Path) -> None:
    commit = git(work_tree, "rev-parse", "HEAD")
    run = release()
    assert run.returncode == 0, run.stderr
    assert_in_order(run.ran(), expected_order(commit))
    assert run.printed() == run.ran()
    assert ECR_PASSWORD not in run.stdout + run.stderr

    by_command = {" ".join(call["args"][:2]): call for call in run.calls}
    assert by_command["login --username"]["stdin"].strip() == ECR_PASSWORD
    registered = by_command["ecs register-task-definition"]["input"]
    assert registered["containerDefinitions"][0]["image"] == f"{REPOSITORY_URI}:{commit}"
    assert registered["containerDefinitions"][0]["stopTimeout"] == 30
    assert registered["taskRoleArn"] == CURRENT_TASK_DEFINITION["taskRoleArn"]
    assert not {"taskDefinitionArn", "revision", "status", "registeredAt"} & registered.keys()
    update = by_command["ecs update-service"]["args"]
    assert update[update.index("--task-definition") + 1] == NEW_REVISION


def test_an_image_already_in_ecr_is_not_rebuilt(release: Release) -> None:
    run = release(image_count="1")
    assert run.returncode == 0, run.stderr
    assert [call for call in run.calls if call["tool"] == "docker"] == []
    assert ["aws", "ecs", "update-service"] in [command[:3] for command in run.ran()]


def test_a_rolled_back_deployment_fails_the_release(release: Release) -> None:
    run = release(primary=OLD_REVISION)
    assert run.returncode == 1
    assert "rolled back" in run.stderr


def test_uncommitted_changes_are_refused(release: Release, work_tree: Path) -> None:
    (work_tree / "index.py").write_text("print('not committed')\n")
    for extra in ((), ("--dry-run",)):
        run = release(*extra)
        assert run.returncode == 1
        assert "uncommitted changes" in run.stderr
        assert run.calls == []


def test_a_repository_in_another_region_is_refused(release: Release) -> None:
    run = release("--dry-run", "--region", "us-east-1")
    assert run.returncode == 1
    assert "not --region us-east-1" in run.stderr


def test_a_dry_run_needs_neither_aws_nor_docker(tmp_path: Path, work_tree: Path) -> None:
    only_git = tmp_path / "only-git"
    only_git.mkdir()
    real_git = shutil.which("git")
    assert real_git is not None
    (only_git / "git").symlink_to(real_git)
    done = subprocess.run(
        [
            *(sys.executable, str(RELEASE), "--dry-run", "--region", REGION),
            *("--repository-uri", REPOSITORY_URI, "--cluster", "c", "--service", "s"),
            *("--task-family", "f", "--context", str(work_tree)),
        ],
        env={"PATH": str(only_git), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "+ docker push" in done.stdout
    assert "+ aws ecs wait services-stable" in done.stdout
