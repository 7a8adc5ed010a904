"""Seed the local AWS emulator (moto) as the CloudFormation stack would seed AWS.

Run by the one-shot `seed` service of docker-compose.yml, inside the moto image
(which has boto3), before the service starts. It creates what the production
stack creates for the service to read:

- the three Parameter Store entries named by PARAM_HOST_PATH, PARAM_DB_NAME_PATH
  and PARAM_USER_PATH (String, like deploy/cloudformation.yml), holding
  DB_HOST, MYSQL_DATABASE and MYSQL_USER;
- the secret DB_SECRET_ARN, JSON {"username", "password"} like the RDS-managed
  secret, holding MYSQL_USER and MYSQL_PASSWORD;
- when MAIL_FROM is set, its domain as a verified SES identity (the stack's
  SesIdentity is verified by hand, see deploy/README.md).

An ARN carries a random suffix that a client cannot choose on AWS; moto lets
the `_custom_id_` tag choose it, so DB_SECRET_ARN can be written down in the
compose file. Running it twice is harmless (values are overwritten).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

import boto3

ARN_PREFIX = "arn:aws:secretsmanager:"
MOTO_CUSTOM_ID_TAG = "_custom_id_"
REQUIRED = (
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "PARAM_HOST_PATH",
    "PARAM_DB_NAME_PATH",
    "PARAM_USER_PATH",
    "DB_SECRET_ARN",
    "DB_HOST",
    "MYSQL_DATABASE",
    "MYSQL_USER",
    "MYSQL_PASSWORD",
)


def split_secret_arn(arn: str) -> tuple[str, str]:
    """Return (name, suffix) of a full secret ARN `...:secret:NAME-SUFFIX`."""
    if not arn.startswith(ARN_PREFIX) or ":secret:" not in arn:
        raise ValueError(f"DB_SECRET_ARN is not a Secrets Manager secret ARN: {arn!r}")
    name, sep, suffix = arn.split(":secret:", 1)[1].rpartition("-")
    if not sep or not name or len(suffix) != 6 or not suffix.isalpha():
        raise ValueError(f"DB_SECRET_ARN must end in NAME-XXXXXX (6 letters): {arn!r}")
    return name, suffix


def seed(env: Mapping[str, str], session: Any = None) -> str:
    """Create the parameters and the secret; return the secret's ARN."""
    missing = [key for key in REQUIRED if not env.get(key)]
    if missing:
        raise ValueError(f"missing environment variables: {', '.join(missing)}")
    name, suffix = split_secret_arn(env["DB_SECRET_ARN"])
    session = session or boto3.session.Session()
    options: dict[str, str] = {
        "region_name": env["AWS_REGION"],
        "endpoint_url": env["AWS_ENDPOINT_URL"],
    }
    ssm = session.client("ssm", **options)
    for path_var, value_var in (
        ("PARAM_HOST_PATH", "DB_HOST"),
        ("PARAM_DB_NAME_PATH", "MYSQL_DATABASE"),
        ("PARAM_USER_PATH", "MYSQL_USER"),
    ):
        ssm.put_parameter(Name=env[path_var], Value=env[value_var], Type="String", Overwrite=True)

    secrets = session.client("secretsmanager", **options)
    value = json.dumps({"username": env["MYSQL_USER"], "password": env["MYSQL_PASSWORD"]})
    try:
        arn = str(
            secrets.create_secret(
                Name=name,
                SecretString=value,
                Tags=[{"Key": MOTO_CUSTOM_ID_TAG, "Value": suffix}],
            )["ARN"]
        )
    except secrets.exceptions.ResourceExistsException:
        arn = str(secrets.put_secret_value(SecretId=name, SecretString=value)["ARN"])
    if arn != env["DB_SECRET_ARN"]:
        raise RuntimeError(f"the emulator created {arn}, not DB_SECRET_ARN {env['DB_SECRET_ARN']}")
    if env.get("MAIL_FROM"):
        ses = session.client("sesv2", **options)
        domain = env["MAIL_FROM"].rpartition("@")[2].rstrip(">")
        # Seeded already by an earlier `docker compose up`: nothing to do.
        with contextlib.suppress(ses.exceptions.AlreadyExistsException):
            ses.create_email_identity(EmailIdentity=domain)
    return arn


def main() -> int:
    try:
        arn = seed(os.environ)
    except (ValueError, RuntimeError) as error:
        print(f"seed: {error}", file=sys.stderr)
        return 1
    print(f"seed: parameters and secret {arn} are in place", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
