"""Schemathesis against the real process, driven by the document it serves.

The cases come from the service's OpenAPI document and go to `python index.py`
running against the local database: valid requests and requests that break the
document on purpose (schemathesis's positive and negative generation, with its
examples, coverage and fuzzing phases), twice: with an admin's staff key and
without one (the staff routes' documented 401). Every check schemathesis has
runs: no server error; every answer keeps the document (status, content type,
headers, body); a request that breaks the document is refused, and one that keeps
it is accepted (the statuses each operation may honestly answer are below).

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
from datetime import datetime
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as CHECK_REGISTRY
from schemathesis.checks import CheckContext, CheckFunction, is_check_class, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from config.settings import AWS_FIELDS, DEFAULT_PROGRAMS, Settings
from controllers.docs import openapi_document
from controllers.staff_params import CURSOR_FORMAT, SINCE_AFTER_UNTIL, encode_cursor
from index import VERSION, create_app
from models.registrations import Position
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
# Operations that answer only to a staff key; the others are public.
STAFF_OPERATIONS = {
    "staffKey",
    "listRegistrations",
    "exportRegistrations",
    "exportSpreadsheet",
    "registrationStats",
    "deleteRegistration",
    "auditTrail",
}
# What a valid request may honestly get, by operation, with an admin's key: a new email
# is stored (201), one sent twice is the documented 409, an Idempotency-Key drawn twice
# with another submission the documented 422; a drawn id names no registration (404).
ACCEPTED_WITH_KEY = {
    "register": ["201", "409", "422"],
    "deleteRegistration": ["204", "404"],
}
ACCEPTED_BY_DEFAULT = ["200"]
# Without a key every staff operation is the documented 401, whatever its parameters.
ACCEPTED_WITHOUT_KEY = {**ACCEPTED_WITH_KEY, **{name: ["401"] for name in STAFF_OPERATIONS}}


def _configured(accepted: dict[str, list[str]]) -> SchemathesisConfig:
    operations = [
        {
            "include-operation-id": operation_id,
            "checks": {"positive_data_acceptance": {"expected-statuses": statuses}},
        }
        for operation_id, statuses in accepted.items()
    ]
    return SchemathesisConfig.from_dict(
        {
            "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_BY_DEFAULT}},
            "operations": operations,
        }
    )


def _schema(accepted: dict[str, list[str]]) -> OpenApiSchema:
    loaded = schemathesis.openapi.from_dict(DOCUMENT, config=_configured(accepted))
    loaded.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    return loaded


load_all_checks()
# A cursor is opaque: the only valid ones are `next` values, so that is what a valid case
# sends (a page after any row, stored or not); the pattern alone would make 400s.
schemathesis.openapi.format(
    CURSOR_FORMAT,
    st.builds(
        Position,
        st.datetimes(datetime(1000, 1, 1), datetime(9999, 12, 31, 23, 59, 59)).map(
            lambda moment: moment.replace(microsecond=0)
        ),
        st.uuids().map(str),
    ).map(encode_cursor),
)


def _cross_parameter_rules(
    ctx: CheckContext, response: Response, case: schemathesis.Case[Any]
) -> bool | None:
    """positive_data_acceptance, but for the one rule JSON Schema cannot state: `since`
    before `until` (documented on both; a valid pair of dates may break it)."""
    if response.status_code == 400 and response.json() == {"error": SINCE_AFTER_UNTIL}:
        return None
    return positive_data_acceptance(ctx, response, case)


# Every check schemathesis has, positive_data_acceptance with the rule above.
# (Every built-in one is a function; a class-based check would be a plugin's.)
CHECKS: list[CheckFunction] = [
    _cross_parameter_rules if check is positive_data_acceptance else check
    for check in CHECK_REGISTRY.get_all()
    if not is_check_class(check)
]
WITH_KEY = _schema(ACCEPTED_WITH_KEY)
WITHOUT_KEY = _schema(ACCEPTED_WITHOUT_KEY)
HYPOTHESIS = settings(
    max_examples=150,
    deadline=None,
    # The service fixture is module-scoped: one process serves every example.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


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


def test_every_check_schemathesis_has_runs() -> None:
    names = {check.__name__ for check in CHECKS}
    assert names == set(CHECK_REGISTRY.get_all_names()) - {"positive_data_acceptance"} | {
        "_cross_parameter_rules"
    }


@WITH_KEY.parametrize()
@HYPOTHESIS
def test_every_operation_answers_as_documented_with_a_staff_key(
    case: schemathesis.Case[Any], service: ServiceProcess, staff_key: str
) -> None:
    # The key goes with every case but those made to break the headers (leave auth out).
    auth = (
        {}
        if case.meta and case.meta.is_negative_at(ParameterLocation.HEADER)
        else {"Authorization": f"Bearer {staff_key}"}
    )
    case.call_and_validate(base_url=service.base_url, checks=CHECKS, timeout=10, headers=auth)


@WITHOUT_KEY.parametrize()
@HYPOTHESIS
def test_every_operation_answers_as_documented_without_a_key(
    case: schemathesis.Case[Any], service: ServiceProcess
) -> None:
    case.call_and_validate(base_url=service.base_url, checks=CHECKS, timeout=10)
