"""deploy/release.py: the release command, against fake `docker` and `aws` commands.

The fakes record every call (arguments, and what came in on stdin) and answer
like the real ones. A dry run must print the same commands and call neither.
The release is one deployer: image first, then the stack with ImageTag=<commit>;
no task definition is registered outside CloudFormation.
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
STACK = "schoolapp-prod"
TEMPLATE_BUCKET = "schoolapp-templates-123456789012-eu-west-1"
ECR_PASSWORD = "fake-ecr-password-0123456789"

FAKE = """#!{python}
import json, os, sys
from pathlib import Path

tool, args = Path(sys.argv[0]).name, sys.argv[1:]
entry = {{"tool": tool, "args": args}}
if tool == "docker" and args[:1] == ["login"]:
    entry["stdin"] = sys.stdin.read()
if "--template-file" in args:
    entry["template_exists"] = Path(args[args.index("--template-file") + 1]).is_file()
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(entry) + "\\n")
answers = {{
    "ecr batch-get-image": os.environ["FAKE_IMAGE_COUNT"],
    "ecr get-login-password": {password!r},
    "cloudformation describe-stacks": os.environ["FAKE_RUNNING"],
}}
if "StackStatus" in " ".join(args):
    answers["cloudformation describe-stacks"] = os.environ["FAKE_STACK"].replace("TAB", "\\t")
if tool == "aws":
    print(answers.get(" ".join(args[:2]), ""))
    if args[:2] == ["cloudformation", "deploy"]:
        sys.exit(int(os.environ["FAKE_DEPLOY_RC"]))
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
    """A committed git work tree with a Dockerfile and the stack's template."""
    repo = tmp_path / "work"
    (repo / "deploy").mkdir(parents=True)
    (repo / "Dockerfile").write_text('FROM scratch\nCMD ["python", "index.py"]\n')
    shutil.copy(ROOT / "deploy" / "cloudformation.yml", repo / "deploy" / "cloudformation.yml")
    git(repo, "init", "--quiet")
    git(repo, "add", "Dockerfile", "deploy")
    identity = ("-c", "user.name=Test", "-c", "user.email=test@example.invalid")
    git(repo, *identity, "-c", "commit.gpgsign=false", "commit", "--quiet", "-m", "first")
    return repo


@pytest.fixture
def release(tmp_path: Path, work_tree: Path) -> Release:
    """Runs deploy/release.py with only git and the fakes on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = FAKE.format(python=sys.executable, password=ECR_PASSWORD)
    for tool in ("docker", "aws"):
        (bin_dir / tool).write_text(fake)
        (bin_dir / tool).chmod(0o755)
    real_git = shutil.which("git")
    assert real_git is not None
    (bin_dir / "git").symlink_to(real_git)
    log = tmp_path / "calls.jsonl"
    commit = git(work_tree, "rev-parse", "HEAD")

    def run(
        *extra: str,
        image_count: str = "0",
        deploy_rc: int = 0,
        stack: str = f"UPDATE_COMPLETETAB{commit}",
        running: str = "0123abc",
    ) -> Run:
        env = {
            "PATH": str(bin_dir),
            "HOME": str(tmp_path),
            "FAKE_LOG": str(log),
            "FAKE_IMAGE_COUNT": image_count,
            "FAKE_DEPLOY_RC": str(deploy_rc),
            "FAKE_STACK": stack,
            "FAKE_RUNNING": running,
        }
        args: Sequence[str] = (
            "--region", REGION, "--stack-name", STACK, "--repository-uri", REPOSITORY_URI,
            "--context", str(work_tree), *extra,
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


def expected_order(commit: str, work_tree: Path) -> list[str]:
    """A prefix of each command, in the order the release runs them: image, then stack."""
    image = f"{REPOSITORY_URI}:{commit}"
    return [
        f"aws ecr batch-get-image --repository-name schoolapp-repo --image-ids imageTag={commit}",
        "docker build --platform linux/amd64",
        f"aws ecr get-login-password --region {REGION}",
        f"docker login --username AWS --password-stdin {REGISTRY}",
        f"docker tag schoolapp-repo:{commit} {image}",
        f"docker push {image}",
        f"aws cloudformation describe-stacks --stack-name {STACK} --query Stacks[0].Parameters",
        f"aws cloudformation deploy --stack-name {STACK} "
        f"--template-file {work_tree / 'deploy' / 'cloudformation.yml'} "
        f"--s3-bucket {TEMPLATE_BUCKET} --s3-prefix {STACK} --capabilities CAPABILITY_IAM "
        f"--no-fail-on-empty-changeset --parameter-overrides ImageTag={commit} FirstRelease=",
        f"aws cloudformation describe-stacks --stack-name {STACK} --query Stacks[0].[StackStatus",
    ]


def assert_in_order(commands: list[list[str]], prefixes: list[str]) -> None:
    lines = [" ".join(command) for command in commands]
    assert len(lines) == len(prefixes), lines
    for line, prefix in zip(lines, prefixes, strict=True):
        assert line.startswith(prefix), (line, prefix)


def option(command: list[str], name: str) -> list[str]:
    """The values after --name, up to the next option."""
    start = command.index(name) + 1
    end = next((i for i in range(start, len(command)) if command[i].startswith("--")), None)
    return command[start:end]


def deploy_call(run: Run) -> list[str]:
    [deploy] = [c for c in run.ran() if c[:3] == ["aws", "cloudformation", "deploy"]]
    return deploy


def test_dry_run_prints_every_command_and_runs_none(release: Release, work_tree: Path) -> None:
    commit = git(work_tree, "rev-parse", "HEAD")
    run = release("--dry-run")
    assert run.returncode == 0, run.stderr
    assert run.calls == []
    assert_in_order(run.printed(), expected_order(commit, work_tree))
    # The login is one pipe: the password never appears on a command line.
    login = f"+ aws ecr get-login-password --region {REGION} | docker login"
    assert any(line.startswith(login) for line in run.stdout.splitlines())
    for command in run.printed():
        if command[0] == "aws":
            assert command[-2:] == ["--region", REGION]
    assert run.printed()[1][-3:] == ["--tag", f"schoolapp-repo:{commit}", str(work_tree)]


def test_release_pushes_the_image_then_deploys_the_stack_with_it(
    release: Release, work_tree: Path
) -> None:
    commit = git(work_tree, "rev-parse", "HEAD")
    run = release()
    assert run.returncode == 0, run.stderr
    assert_in_order(run.ran(), expected_order(commit, work_tree))
    assert run.printed() == run.ran()
    assert ECR_PASSWORD not in run.stdout + run.stderr
    by_command = {" ".join(call["args"][:2]): call for call in run.calls}
    assert by_command["login --username"]["stdin"].strip() == ECR_PASSWORD
    assert by_command["cloudformation deploy"]["template_exists"] is True
    # Only the release's own two are passed: `deploy` keeps every other parameter's value.
    assert option(deploy_call(run), "--parameter-overrides") == [
        f"ImageTag={commit}",
        "FirstRelease=false",
    ]
    # One deployer: nothing talks to ECS directly.
    assert [c for c in run.ran() if c[:2] == ["aws", "ecs"]] == []
    assert f"released {commit}" in run.stdout


def test_an_image_already_in_ecr_is_not_rebuilt(release: Release) -> None:
    run = release(image_count="1")
    assert run.returncode == 0, run.stderr
    assert [call for call in run.calls if call["tool"] == "docker"] == []
    assert deploy_call(run)


def test_a_failed_stack_update_fails_the_release(release: Release) -> None:
    run = release(deploy_rc=255)
    assert run.returncode == 1
    assert "the stack update failed" in run.stderr
    assert "describe-stack-events" in run.stderr
    assert [c for c in run.ran() if "describe-stacks" in c and "StackStatus" in " ".join(c)] == []


@pytest.mark.parametrize(
    "stack",
    ["UPDATE_ROLLBACK_COMPLETETAB0123abc", "UPDATE_COMPLETETAB0123abc", "UPDATE_IN_PROGRESSTABX"],
)
def test_a_stack_not_running_the_commit_fails_the_release(release: Release, stack: str) -> None:
    run = release(stack=stack)
    assert run.returncode == 1
    assert "not " in run.stderr
    assert "released" not in run.stdout


def test_an_operator_parameter_change_goes_with_the_release(
    release: Release, work_tree: Path
) -> None:
    commit = git(work_tree, "rev-parse", "HEAD")
    run = release("--parameter", "VpcCidr=10.0.0.0/16", "--parameter", "WafMode=block")
    assert run.returncode == 0, run.stderr
    assert option(deploy_call(run), "--parameter-overrides") == [
        f"ImageTag={commit}",
        "VpcCidr=10.0.0.0/16",
        "WafMode=block",
        "FirstRelease=false",
    ]


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        ("ImageTag=abc", "the release sets it"),
        ("FirstRelease=true", "the release sets it"),
        ("VpcCidr", "is not NAME=VALUE"),
    ],
)
def test_a_wrong_parameter_is_refused_before_anything_runs(
    release: Release, parameter: str, message: str
) -> None:
    run = release("--parameter", parameter)
    assert run.returncode == 1
    assert message in run.stderr
    assert [c for c in run.ran() if c[:2] == ["aws", "cloudformation"]] == []


@pytest.mark.parametrize("running", ["", "None"])
def test_the_release_that_brings_the_first_image_creates_the_service(
    release: Release, running: str
) -> None:
    run = release(running=running)
    assert run.returncode == 0, run.stderr
    assert option(deploy_call(run), "--parameter-overrides")[-1] == "FirstRelease=true"


def test_another_template_bucket_can_be_named(release: Release) -> None:
    run = release("--s3-bucket", "my-templates")
    assert run.returncode == 0, run.stderr
    assert option(deploy_call(run), "--s3-bucket") == ["my-templates"]


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
            *("--stack-name", STACK, "--repository-uri", REPOSITORY_URI),
            *("--context", str(work_tree)),
        ],
        env={"PATH": str(only_git), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "+ docker push" in done.stdout
    assert "+ aws cloudformation deploy" in done.stdout
