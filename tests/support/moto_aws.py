"""moto's server on a loopback port: the service's real boto3 calls go to it."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from tests.support.ports import free_port

REGION = "us-east-1"
# moto accepts any credentials; boto3 needs some to sign requests.
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": REGION,
}


@dataclass(frozen=True)
class MotoAws:
    """A running moto server and the environment that points boto3 at it."""

    endpoint: str

    @property
    def environment(self) -> dict[str, str]:
        """Variables that send boto3 (in this process or a child) to moto."""
        return {**ENVIRONMENT, "AWS_ENDPOINT_URL": self.endpoint}

    def client(self, service: str) -> Any:
        """A boto3 client of `service` talking to moto."""
        # boto3's stubs type each service's client apart; the tests use several.
        make_client: Any = boto3.client
        return make_client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def put_parameter(self, value: str) -> str:
        """A new SecureString parameter holding `value`; returns its name."""
        name = f"/schoolapp/test/{uuid.uuid4().hex[:12]}"
        self.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString")
        return name

    def create_secret(self, content: dict[str, object]) -> str:
        """A new secret whose JSON is `content`; returns its ARN."""
        answer = self.client("secretsmanager").create_secret(
            Name=f"schoolapp-test-{uuid.uuid4().hex[:12]}", SecretString=json.dumps(content)
        )
        arn: str = answer["ARN"]
        return arn

    def verified_sender(self) -> str:
        """An address on a new domain identity of SES (moto refuses unverified senders)."""
        domain = f"school-{uuid.uuid4().hex[:10]}.example.edu"
        self.client("sesv2").create_email_identity(EmailIdentity=domain)
        return f"admissions@{domain}"

    def sent_emails(self) -> list[dict[str, Any]]:
        """Every email moto's SES accepted so far: source, destinations, subject, body.

        moto keeps only the HTML part of a Simple message with both parts.
        """
        with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=10) as answer:
            models = json.load(answer)
        messages: list[dict[str, Any]] = models.get("ses", {}).get("Message", [])
        return messages

    def emails_to(self, addresses: set[str]) -> list[dict[str, Any]]:
        """The accepted emails addressed to any of `addresses`."""
        return [
            message
            for message in self.sent_emails()
            if set(message["destinations"].get("ToAddresses", [])) & addresses
        ]

    def rotate_secret(self, arn: str, content: dict[str, object]) -> None:
        """Store a new version of the secret, as a rotation does."""
        self.client("secretsmanager").put_secret_value(
            SecretId=arn, SecretString=json.dumps(content)
        )


@contextmanager
def moto_server() -> Iterator[MotoAws]:
    """Start moto in server mode on a free loopback port; stop it afterwards."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield MotoAws(endpoint=f"http://127.0.0.1:{port}")
    finally:
        server.stop()
