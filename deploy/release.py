#!/usr/bin/env python3
"""Release the current git commit to the ECS service of deploy/cloudformation.yml.

    python3 deploy/release.py --region REGION --repository-uri URI --cluster CLUSTER \
        --service SERVICE --task-family FAMILY [--dry-run]

The stack output ReleaseCommand prints this line with the right values. Steps:

1. refuse a working tree with uncommitted changes (the image must be the commit);
2. unless ECR already holds an image tagged with the commit (tags are
   immutable, so that image is this commit): build it for linux/amd64, log in
   to ECR, tag it with the commit, push it;
3. register a revision of the task family that runs that image, point the
   service at it, wait until the service is stable, and check that the
   deployment was not rolled back by the circuit breaker.

Releasing an older commit is therefore the rollback. Every docker and aws
command is printed before it runs; with --dry-run they are only printed, and
nothing but `git` (read-only) is run. Needs git, docker (with buildx, for
--platform) and the aws CLI (v1 or v2) with credentials for the account.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

PLATFORM = "linux/amd64"
REPOSITORY_URI = re.compile(
    r"^(?P<registry>[0-9]{12}\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?)"
    r"/(?P<name>[a-z0-9][a-z0-9._/-]*)$"
)
# Fields that describe-task-definition returns and register-task-definition
# refuses. A new read-only field makes registration fail loudly rather than
# silently dropping a setting.
READ_ONLY_TASK_DEFINITION_FIELDS = (
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
)


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


def with_image(task_definition: dict[str, Any], container: str, image: str) -> dict[str, Any]:
    """The register-task-definition input: task_definition with container's image replaced."""
    new = {k: v for k, v in task_definition.items() if k not in READ_ONLY_TASK_DEFINITION_FIELDS}
    containers = [c for c in new.get("containerDefinitions", []) if c.get("name") == container]
    if len(containers) != 1:
        raise ReleaseError(f"the task definition has no container named {container!r}")
    containers[0]["image"] = image
    return new


def aws_command(region: str, command: str, **options: str) -> list[str]:
    """`aws COMMAND --option value ... --region REGION`; option_name means --option-name."""
    argv = ["aws", *command.split()]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", value]
    return [*argv, "--region", region]


def release(args: argparse.Namespace, shell: Shell) -> None:
    region: str = args.region
    commit = current_commit(args.context, allow_dirty=args.allow_dirty)
    registry, repository = parse_repository_uri(args.repository_uri, region)
    image = f"{args.repository_uri}:{commit}"
    if shell.dry_run:
        shell.note(f"dry run for commit {commit}: the commands are printed, none is run")
        shell.note("dry run: assuming ECR does not hold this commit's image yet")

    def aws(command: str, **options: str) -> list[str]:
        return aws_command(region, command, **options)

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

    current = shell.run(
        aws(
            "ecs describe-task-definition",
            task_definition=args.task_family,
            query="taskDefinition",
            output="json",
        ),
        capture=True,
    )
    with tempfile.TemporaryDirectory(prefix="release-") as scratch:
        if shell.dry_run:
            input_file = f"<revision of {args.task_family} with {args.container} running {image}>"
        else:
            new = with_image(json.loads(current), args.container, image)
            path = Path(scratch, "task-definition.json")
            path.write_text(json.dumps(new, indent=2), encoding="utf-8")
            input_file = path.as_uri()
        task_definition = shell.run(
            aws(
                "ecs register-task-definition",
                cli_input_json=input_file,
                query="taskDefinition.taskDefinitionArn",
                output="text",
            ),
            capture=True,
            dry_result="<new task definition ARN>",
        )
    shell.run(
        aws(
            "ecs update-service",
            cluster=args.cluster,
            service=args.service,
            task_definition=task_definition,
            query="service.serviceArn",
            output="text",
        ),
        capture=True,
    )
    shell.run(aws("ecs wait services-stable", cluster=args.cluster, services=args.service))
    # The circuit breaker rolls a failed deployment back, after which the
    # service is "stable" too: check that the new revision is the one running.
    primary = shell.run(
        aws(
            "ecs describe-services",
            cluster=args.cluster,
            services=args.service,
            query="services[0].deployments[?status==`PRIMARY`].taskDefinition | [0]",
            output="text",
        ),
        capture=True,
        dry_result=task_definition,
    )
    if primary != task_definition:
        raise ReleaseError(
            f"the service runs {primary}, not {task_definition}: the deployment failed "
            "and was rolled back; see the service events and the task logs"
        )
    if shell.dry_run:
        shell.note("dry run complete: nothing was built, pushed or deployed")
        return
    shell.note(
        f"released {commit}. Pass ImageTag={commit} on the next stack update, "
        "or the stack would deploy the image of its previous ImageTag again"
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build, push and deploy the current git commit (see deploy/README.md).",
    )
    parser.add_argument("--region", required=True)
    parser.add_argument("--repository-uri", required=True, help="stack output RepositoryUri")
    parser.add_argument("--cluster", required=True, help="stack output ClusterName")
    parser.add_argument("--service", required=True, help="stack output ServiceName")
    parser.add_argument("--task-family", required=True, help="stack output TaskFamily")
    parser.add_argument("--container", default="api", help="container to update (default: api)")
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
