#!/usr/bin/env python3
"""Release the current git commit: its image and its stack, in one step.

    python3 deploy/release.py --region REGION --stack-name STACK --repository-uri URI \
        [--s3-bucket BUCKET] [--parameter NAME=VALUE ...] [--dry-run]

The stack output ReleaseCommand prints this line with the right values. Steps:

1. refuse a working tree with uncommitted changes (the image must be the commit);
2. unless ECR already holds an image tagged with the commit (tags are
   immutable, so that image is this commit): build it for linux/amd64, log in
   to ECR, tag it with the commit, push it;
3. deploy the commit's deploy/cloudformation.yml to the stack with
   ImageTag=<commit> and FirstRelease (true when the stack had no image: this
   release creates the service), every other parameter keeping its value (the template is
   uploaded to --s3-bucket: it is over CloudFormation's 51,200-byte inline limit).
   CloudFormation updates the task definitions and the service; the circuit
   breaker and the deployment alarms watch the new tasks, and a failed
   deployment rolls the whole stack update back, which fails this step;
4. check that the stack is complete with ImageTag=<commit>.

CloudFormation is the only deployer: nothing here registers a task definition,
so a later stack update cannot roll the image back. Releasing an older commit is
the rollback (image and template together). Every docker and aws command is
printed before it runs; with --dry-run they are only printed, and nothing but
`git` (read-only) is run. Needs git, docker (with buildx, for --platform) and
the aws CLI (v1 or v2) with credentials for the account.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

PLATFORM = "linux/amd64"
REPOSITORY_URI = re.compile(
    r"^(?P<registry>[0-9]{12}\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?)"
    r"/(?P<name>[a-z0-9][a-z0-9._/-]*)$"
)
TEMPLATE = Path("deploy", "cloudformation.yml")
COMPLETE = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
IMAGE_TAG_QUERY = "Parameters[?ParameterKey=='ImageTag'].ParameterValue | [0]"


class ReleaseError(Exception):
    """A step failed or an input is wrong; the message says which."""


class Shell:
    """Prints each command, then runs it unless this is a dry run."""

    def __init__(self, *, dry_run: bool, out: TextIO) -> None:
        self.dry_run = dry_run
        self.out = out

    def note(self, text: str) -> None:
        print(f"# {text}", file=self.out, flush=True)

    def run(self, argv: Sequence[str], *, capture: bool = False, dry_result: str = "") -> str:
        """Run argv (stdout returned when capture); in a dry run return dry_result."""
        print(f"+ {shlex.join(argv)}", file=self.out, flush=True)
        if self.dry_run:
            return dry_result
        return self._execute(argv, capture=capture)

    def pipe(self, producer: Sequence[str], consumer: Sequence[str]) -> None:
        """producer | consumer, without the producer's output ever being shown."""
        print(f"+ {shlex.join(producer)} | {shlex.join(consumer)}", file=self.out, flush=True)
        if self.dry_run:
            return
        data = self._execute(producer, capture=True)
        self._execute(consumer, capture=False, stdin=data)

    @staticmethod
    def _execute(argv: Sequence[str], *, capture: bool, stdin: str | None = None) -> str:
        executable = shutil.which(argv[0])
        if executable is None:
            raise ReleaseError(f"{argv[0]} not found on PATH")
        result = subprocess.run(  # noqa: S603 - argv is built here, never by a shell
            [executable, *argv[1:]],
            input=stdin,
            stdout=subprocess.PIPE if capture else None,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ReleaseError(f"`{shlex.join(argv)}` failed with exit code {result.returncode}")
        return result.stdout.strip() if capture else ""


def git(context: Path, *args: str) -> str:
    git_executable = shutil.which("git")
    if git_executable is None:
        raise ReleaseError("git not found on PATH")
    result = subprocess.run(  # noqa: S603 - fixed git arguments
        [git_executable, "-C", str(context), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def current_commit(context: Path, *, allow_dirty: bool) -> str:
    commit = git(context, "rev-parse", "--verify", "HEAD^{commit}")
    if not allow_dirty and git(context, "status", "--porcelain"):
        raise ReleaseError(
            "the working tree has uncommitted changes: commit them, so that the image "
            "tagged with the commit is that commit (or pass --allow-dirty)"
        )
    return commit


def parse_repository_uri(uri: str, region: str) -> tuple[str, str]:
    """Return (registry, repository name) of an ECR repository URI in region."""
    match = REPOSITORY_URI.match(uri)
    if match is None:
        raise ReleaseError(
            f"--repository-uri {uri!r} is not ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME"
        )
    if match["region"] != region:
        raise ReleaseError(f"--repository-uri is in {match['region']}, not --region {region}")
    return match["registry"], match["name"]


def template_bucket(registry: str, region: str) -> str:
    """The default bucket for the uploaded template (deploy/README.md creates it)."""
    return f"schoolapp-templates-{registry.split('.', 1)[0]}-{region}"


def parameter_overrides(commit: str, extra: Sequence[str]) -> list[str]:
    """ImageTag=<commit> and the operator's NAME=VALUE changes; the rest stay as they are."""
    for item in extra:
        name, equals, _ = item.partition("=")
        if not equals or not re.fullmatch(r"[A-Za-z0-9]+", name):
            raise ReleaseError(f"--parameter {item!r} is not NAME=VALUE")
        if name in {"ImageTag", "FirstRelease"}:
            raise ReleaseError(f"--parameter {name}: the release sets it")
    return [f"ImageTag={commit}", *extra]


def aws_command(region: str, command: str, *flags: str, **options: str) -> list[str]:
    """`aws COMMAND --option value ... FLAGS --region REGION`; option_name means --option-name."""
    argv = ["aws", *command.split()]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", value]
    return [*argv, *flags, "--region", region]


def release(args: argparse.Namespace, shell: Shell) -> None:
    region: str = args.region
    commit = current_commit(args.context, allow_dirty=args.allow_dirty)
    registry, repository = parse_repository_uri(args.repository_uri, region)
    overrides = parameter_overrides(commit, args.parameter)
    image = f"{args.repository_uri}:{commit}"
    if shell.dry_run:
        shell.note(f"dry run for commit {commit}: the commands are printed, none is run")
        shell.note("dry run: assuming ECR does not hold this commit's image yet")

    def aws(command: str, *flags: str, **options: str) -> list[str]:
        return aws_command(region, command, *flags, **options)

    pushed = shell.run(
        aws(
            "ecr batch-get-image",
            repository_name=repository,
            image_ids=f"imageTag={commit}",
            query="length(images)",
            output="text",
        ),
        capture=True,
        dry_result="0",
    )
    if pushed not in {"0", "1"}:
        raise ReleaseError(f"unexpected answer from ecr batch-get-image: {pushed!r}")
    if pushed == "1":
        shell.note(f"{image} is already in ECR: not building it again")
    else:
        local = f"{repository}:{commit}"
        label = f"org.opencontainers.image.revision={commit}"
        build = ["docker", "build", "--platform", PLATFORM, "--pull", "--label", label]
        shell.run([*build, "--tag", local, str(args.context)])
        shell.pipe(
            aws("ecr get-login-password"),
            ["docker", "login", "--username", "AWS", "--password-stdin", registry],
        )
        shell.run(["docker", "tag", local, image])
        shell.run(["docker", "push", image])

    # The release that gives the stack its first image creates the service.
    running = shell.run(
        aws(
            "cloudformation describe-stacks",
            stack_name=args.stack_name,
            query=f"Stacks[0].{IMAGE_TAG_QUERY}",
            output="text",
        ),
        capture=True,
        dry_result="<the running commit>",
    )
    first = "true" if running in {"", "None"} else "false"
    deploy = aws(
        "cloudformation deploy",
        "--no-fail-on-empty-changeset",
        "--parameter-overrides",
        *overrides,
        f"FirstRelease={first}",
        stack_name=args.stack_name,
        template_file=str(args.context / TEMPLATE),
        s3_bucket=args.s3_bucket or template_bucket(registry, region),
        s3_prefix=args.stack_name,
        capabilities="CAPABILITY_IAM",
    )
    try:
        shell.run(deploy)
    except ReleaseError as error:
        raise ReleaseError(
            f"{error}: the stack update failed (a failed deployment is rolled back with it); "
            f"see `aws cloudformation describe-stack-events --stack-name {args.stack_name}` "
            "and the service's events"
        ) from error
    state = shell.run(
        aws(
            "cloudformation describe-stacks",
            stack_name=args.stack_name,
            query=f"Stacks[0].[StackStatus, {IMAGE_TAG_QUERY}]",
            output="text",
        ),
        capture=True,
        dry_result=f"UPDATE_COMPLETE\t{commit}",
    )
    status, _, tag = state.partition("\t")
    if status not in COMPLETE or tag.strip() != commit:
        raise ReleaseError(f"the stack is {status} with ImageTag {tag.strip()!r}, not {commit}")
    if shell.dry_run:
        shell.note("dry run complete: nothing was built, pushed or deployed")
        return
    shell.note(f"released {commit}: the stack runs it ({status})")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build, push and deploy the current git commit (see deploy/README.md).",
    )
    parser.add_argument("--region", required=True)
    parser.add_argument("--stack-name", required=True, help="the stack to deploy")
    parser.add_argument("--repository-uri", required=True, help="stack output RepositoryUri")
    parser.add_argument(
        "--s3-bucket",
        help="bucket the template is uploaded to (default: schoolapp-templates-ACCOUNT-REGION)",
    )
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change a stack parameter too (repeatable); the others keep their values",
    )
    parser.add_argument(
        "--context",
        type=Path,
        default=Path(__file__).resolve().parent.parent,
        help="git work tree holding the Dockerfile (default: this repository)",
    )
    parser.add_argument("--allow-dirty", action="store_true", help="release uncommitted changes")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run none")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    shell = Shell(dry_run=args.dry_run, out=sys.stdout)
    try:
        release(args, shell)
    except ReleaseError as error:
        print(f"release: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
