"""Schemathesis against the real process, driven by the document it serves.

The cases come from the service's OpenAPI document and go to `python index.py`
running against the local database: valid requests and requests that break the
document on purpose (schemathesis's positive and negative generation, with its
examples, coverage and fuzzing phases). No answer may be a server error, and
every answer must keep the document: a documented status code, the documented
content type, documented headers and a body of the documented schema.

The document is built at import with the function the service serves it from,
because schemathesis needs it to make one test per operation at collection,
before any process runs; test_the_live_document_is_the_one_tested checks that
the running process serves exactly that document. (schemathesis 4.32's lazy
loader, `schemathesis.pytest.from_fixture`, cannot be used: it sets
`request.node._nodeid`, which pytest 9.2 no longer has.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from config.settings import AWS_FIELDS, DEFAULT_PROGRAMS, Settings
from controllers.docs import openapi_document
from index import VERSION, create_app
from tests.support.mysql_target import MySQLTarget
from tests.support.service_process import ServiceProcess
from tests.support.staff import make_key

# The app is only built, never started: its routes are what the document describes.
_APP = create_app(Settings(mail_backend=None, **dict.fromkeys(AWS_FIELDS)))
DOCUMENT = openapi_document(_APP.routes, DEFAULT_PROGRAMS, VERSION)
OPERATIONS = {
    ("GET", "/health"),
    ("GET", "/health/ready"),
    ("POST", "/api/register"),
    ("GET", "/api/programs"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/api/registrations"),
    ("GET", "/api/registrations.csv"),
    ("GET", "/api/registrations.xlsx"),
    ("GET", "/api/staff/key"),
    ("GET", "/api/registrations/stats"),
    ("DELETE", "/api/registrations/{id}"),
    ("GET", "/api/audit"),
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    # A request that breaks the document gets a 4xx, never a 2xx.
    negative_data_rejection,
    # A method a path does not document gets 405 with an Allow header that
    # lists exactly the documented ones.
    unsupported_method,
    allow_header_conformance,
]

schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@pytest.fixture(scope="module")
def service(
    mysql: MySQLTarget, database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    environment = mysql.environment(database)
    log = tmp_path_factory.mktemp("schemathesis") / "service.log"
    with ServiceProcess(environment, log) as running:
        yield running


@pytest.fixture(scope="module")
def staff_key(service: ServiceProcess, mysql: MySQLTarget, database: str) -> str:
    """A staff key, so that the staff routes are exercised beyond their 401."""
    return make_key(mysql, database, f"schemathesis-{uuid.uuid4().hex[:8]}")


def test_the_live_document_is_the_one_tested(service: ServiceProcess) -> None:
    live = httpx.get(f"{service.base_url}/openapi.json", timeout=10)
    assert live.status_code == 200
    assert live.json() == DOCUMENT
    documented = {
        (method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item
    }
    assert documented == OPERATIONS


@schema.parametrize()
@settings(
    max_examples=150,
    deadline=None,
    # The service fixture is module-scoped: one process serves every example.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_answers_as_documented(
    case: schemathesis.Case[Any], service: ServiceProcess, staff_key: str
) -> None:
    # The key goes with every case but those made to break the headers (leave auth out).
    auth = (
        {}
        if case.meta and case.meta.is_negative_at(ParameterLocation.HEADER)
        else {"Authorization": f"Bearer {staff_key}"}
    )
    case.call_and_validate(base_url=service.base_url, checks=CHECKS, timeout=10, headers=auth)
