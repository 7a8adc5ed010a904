"""Writing a secret into Parameter Store as a SecureString, for `keys create --to-parameter`.

The key issuer task runs this: the key goes to SSM, never to stdout (CloudWatch Logs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from config.errors import ParameterNotWritten
from config.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient


def put_secure_parameter(settings: Settings, name: str, value: str) -> None:
    """Create `name` holding `value` (encrypted with aws/ssm); never overwrites one.

    ParameterNotWritten, naming the parameter and AWS's error code (never the value),
    when AWS refuses or cannot be reached.
    """
    # boto3 takes a noticeable time to import; only this command needs it.
    import boto3  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    # AWS_ENDPOINT_URL (an emulator in tests) is honoured by boto3 itself.
    ssm: SSMClient = boto3.session.Session(region_name=settings.aws_region).client("ssm")
    try:
        ssm.put_parameter(
            Name=name,
            Value=value,
            Type="SecureString",
            Overwrite=False,
            Description="A schoolapp staff key: read it once, then delete this parameter.",
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise ParameterNotWritten(name, code) from None
    except BotoCoreError as exc:
        raise ParameterNotWritten(name, type(exc).__name__) from None
