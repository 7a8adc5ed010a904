"""docker-compose.yml and deploy/seed_local_aws.py: the laptop runs the AWS mode.

No Docker engine runs here, so the compose file is checked for structure and
against the CloudFormation template; the seed script runs for real against a
moto server on the loopback interface, as the `seed` service runs it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SEED = ROOT / "deploy" / "seed_local_aws.py"
TEMPLATE = ROOT / "deploy" / "cloudformation.yml"
AWS_MODE = {
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "PARAM_HOST_PATH",
    "PARAM_DB_NAME_PATH",
    "PARAM_USER_PATH",
    "DB_SECRET_ARN",
}
LOCAL_MODE = {"DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"}
MOTO_PORT = 5000


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"][name]
    return found


def environment(compose: dict[str, Any], name: str) -> dict[str, str]:
    """A service's environment, mapping or list form, values as strings."""
    env = service(compose, name).get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def depends_on(compose: dict[str, Any], name: str) -> dict[str, str]:
    deps = service(compose, name).get("depends_on", {})
    return {dep: spec.get("condition", "") for dep, spec in deps.items()}


def task_definition_environment() -> set[str]:
    decode = importlib.import_module("cfnlint.decode.decode")
    template, _ = decode.decode(str(TEMPLATE))
    tasks = [r for r in template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    container = tasks[0]["Properties"]["ContainerDefinitions"][0]
    names = set()
    for item in container["Environment"]:
        _, variable, _ = item.get("Fn::If", (None, item, None))
        names.add(str(variable["Name"]))
    # The seed creates no SES configuration set and no bounce queue in moto.
    return names - {"MAIL_CONFIGURATION_SET", "MAIL_EVENTS_QUEUE_URL"}


def test_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"db", "moto", "seed", "app"}
    assert str(service(compose, "db")["image"]).startswith("mysql:8.")
    assert str(service(compose, "moto")["image"]).startswith("motoserver/moto:")
    assert service(compose, "seed")["image"] == service(compose, "moto")["image"]
    for name in ("db", "moto"):  # app: the Dockerfile's HEALTHCHECK
        assert service(compose, name)["healthcheck"]["test"][0] == "CMD"


def test_app_is_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    build = service(compose, "app")["build"]
    if isinstance(build, str):
        build = {"context": build}
    assert build["context"] == "."
    assert build.get("dockerfile", "Dockerfile") == "Dockerfile"
    assert (ROOT / "Dockerfile").is_file()


def test_app_runs_in_aws_mode_against_moto(compose: dict[str, Any]) -> None:
    env = environment(compose, "app")
    assert env.keys() >= AWS_MODE
    assert not env.keys() & LOCAL_MODE, "direct DB_* settings would bypass the AWS mode"
    endpoint = urlsplit(env["AWS_ENDPOINT_URL"])
    assert (endpoint.scheme, endpoint.hostname, endpoint.port) == ("http", "moto", MOTO_PORT)
    assert env["DB_SECRET_ARN"].startswith("arn:aws:secretsmanager:")
    for name in ("PARAM_HOST_PATH", "PARAM_DB_NAME_PATH", "PARAM_USER_PATH"):
        assert env[name].startswith("/")


def test_app_sets_what_the_task_definition_sets(compose: dict[str, Any]) -> None:
    assert task_definition_environment() <= environment(compose, "app").keys()


def test_the_database_speaks_only_tls_and_the_app_only_tls(compose: dict[str, Any]) -> None:
    # mysql:8 makes its own certificates; no host name in them and their CA in
    # the data volume, so the app encrypts without verifying (see the file).
    assert "--require-secure-transport=ON" in service(compose, "db")["command"]
    app = environment(compose, "app")
    assert app["DB_SSL_MODE"] == "required"
    assert "DB_SSL_CA" not in app


def test_app_port_and_start_order(compose: dict[str, Any]) -> None:
    ports = [str(port) for port in service(compose, "app")["ports"]]
    assert any(port.endswith("3000:3000") for port in ports)
    assert depends_on(compose, "app") == {
        "db": "service_healthy",
        "seed": "service_completed_successfully",
    }
    assert depends_on(compose, "seed") == {"moto": "service_healthy"}
    assert service(compose, "app")["stop_grace_period"] == "40s"


def test_seed_gets_what_the_app_reads(compose: dict[str, Any]) -> None:
    seed, app, db = (environment(compose, name) for name in ("seed", "app", "db"))
    for name in AWS_MODE:
        assert seed[name] == app[name], name
    for name in ("MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD"):
        assert seed[name] == db[name], name
    assert seed["DB_HOST"] == "db"
    entrypoint = service(compose, "seed")["entrypoint"]
    mounts = service(compose, "seed")["volumes"]
    assert entrypoint[-1] == "/deploy/seed_local_aws.py"
    assert f"./deploy/seed_local_aws.py:{entrypoint[-1]}:ro" in mounts


# ------------------------------------------------------------------ the seed, for real


def load_seed() -> ModuleType:
    spec = importlib.util.spec_from_file_location("seed_local_aws", SEED)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server on 127.0.0.1, empty, with fake credentials."""
    server_module = importlib.import_module("moto.server")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=5).close()  # loopback only
    try:
        yield endpoint
    finally:
        urllib.request.urlopen(reset, timeout=5).close()
        server.stop()


def test_seed_creates_what_the_service_reads(compose: dict[str, Any], moto_endpoint: str) -> None:
    env = environment(compose, "seed") | {"AWS_ENDPOINT_URL": moto_endpoint}
    seed = load_seed()
    for _ in range(2):  # a second `docker compose up` seeds again
        assert seed.seed(env) == env["DB_SECRET_ARN"]

    # Read back as the service does, with the app's own variables.
    app = environment(compose, "app")
    region = app["AWS_REGION"]
    ssm = boto3.client("ssm", region_name=region, endpoint_url=moto_endpoint)
    names = [app["PARAM_HOST_PATH"], app["PARAM_DB_NAME_PATH"], app["PARAM_USER_PATH"]]
    values = [
        ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"].get("Value")
        for name in names
    ]
    assert values == [env["DB_HOST"], env["MYSQL_DATABASE"], env["MYSQL_USER"]]
    secrets = boto3.client("secretsmanager", region_name=region, endpoint_url=moto_endpoint)
    secret = secrets.get_secret_value(SecretId=app["DB_SECRET_ARN"])
    assert json.loads(secret["SecretString"]) == {
        "username": env["MYSQL_USER"],
        "password": env["MYSQL_PASSWORD"],
    }
    # The app's sender is an SES identity, so the emulator accepts its emails.
    ses = boto3.client("sesv2", region_name=region, endpoint_url=moto_endpoint)
    sent = ses.send_email(
        FromEmailAddress=app["MAIL_FROM"],
        Destination={"ToAddresses": ["applicant@example.com"]},
        Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}},
    )
    assert sent["MessageId"]


def test_seed_refuses_a_secret_arn_it_cannot_reproduce(compose: dict[str, Any]) -> None:
    seed = load_seed()
    env = environment(compose, "seed")
    for arn in ("not-an-arn", env["DB_SECRET_ARN"].rsplit("-", 1)[0]):
        with pytest.raises(ValueError, match="DB_SECRET_ARN"):
            seed.seed(env | {"DB_SECRET_ARN": arn})
    with pytest.raises(ValueError, match="MYSQL_PASSWORD"):
        seed.seed({k: v for k, v in env.items() if k != "MYSQL_PASSWORD"})
