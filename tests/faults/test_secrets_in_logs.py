"""Nothing secret leaks: not the password, not an applicant's full email or phone."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx

from tests.support.moto_aws import MotoAws
from tests.support.mysql_target import MySQLTarget
from tests.support.payloads import registration
from tests.support.service_process import ServiceProcess


def test_no_log_line_or_response_holds_a_secret(
    aws: MotoAws, mysql: MySQLTarget, database: str, app_user: tuple[str, str], tmp_path: Path
) -> None:
    user, password = app_user
    environment = {
        **aws.environment,
        "PARAM_HOST_PATH": aws.put_parameter(mysql.host),
        "PARAM_DB_NAME_PATH": aws.put_parameter(database),
        "PARAM_USER_PATH": aws.put_parameter(user),
        "DB_SECRET_ARN": aws.create_secret({"password": password, "port": mysql.port}),
        "DB_CONNECT_TIMEOUT": "1",
        "DB_SSL_MODE": "disabled",  # the shared test server need not offer TLS
        # The most a log can say: debug for every logger of ours.
        "LOG_LEVEL": "debug",
    }
    applicant = registration(phone="(617) 555-0142")
    responses: list[httpx.Response] = []
    with ServiceProcess(environment, tmp_path / "service.log") as service:
        with httpx.Client(base_url=service.base_url, timeout=10) as client:
            responses.append(client.post("/api/register", json=applicant))
            responses.append(client.post("/api/register", json=applicant))  # a retry: 201
            responses.append(client.post("/api/register", json={**applicant, "name": "Bo"}))
            responses.append(client.post("/api/register", json={**applicant, "phone": "1"}))
            responses.append(
                client.post(
                    "/api/register", content=b"{", headers={"Content-Type": "application/json"}
                )
            )
            responses.append(client.get("/health/ready"))
            # The database refuses the password: the service re-reads the secret,
            # which still holds the old one, and answers 503.
            mysql.execute(f"ALTER USER '{user}'@'%%' IDENTIFIED BY %s", (uuid.uuid4().hex,))
            for (session,) in mysql.execute(
                "SELECT id FROM information_schema.processlist WHERE user = %s", (user,)
            ):
                mysql.execute(f"KILL {int(session)}")
            responses.append(client.post("/api/register", json=registration()))
            responses.append(client.get("/health/ready"))
        log = service.log()

    assert [r.status_code for r in responses] == [201, 201, 409, 400, 400, 200, 503, 503]
    lines = [json.loads(line) for line in log.splitlines()]
    assert any("Access denied" in json.dumps(line) for line in lines)  # the failure was logged
    for text in [log, *(r.text for r in responses), *(str(r.headers) for r in responses)]:
        assert password not in text
    assert applicant["email"] not in log
    assert "6175550142" not in log
    assert "555-0142" not in log
    assert applicant["email"][0] + "***@example.com" in log
