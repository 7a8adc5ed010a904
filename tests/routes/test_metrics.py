"""The metrics of real requests: counted at the edge and in the controllers, written only
by the flusher as one EMF line."""

from __future__ import annotations

import httpx
import pytest

from config.metrics import METRICS
from config.settings import Settings
from index import create_app
from tests.config.test_metrics import parse_emf
from tests.support.app_client import SettingsFactory
from tests.support.payloads import registration

pytestmark = pytest.mark.anyio


@pytest.fixture
def quiet_settings(make_settings: SettingsFactory) -> Settings:
    # No access lines, and an interval no test reaches: stdout stays empty until a flush.
    return make_settings(log_level="warning", metrics_interval_seconds=3600)


async def test_requests_are_counted_in_memory_and_written_once_at_the_flush(
    quiet_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(quiet_settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
    ):
        capsys.readouterr()
        first, second = registration(), registration()
        plain = {"content-type": "text/plain"}
        statuses = [
            (await http.post("/api/register", json=first)).status_code,
            (await http.post("/api/register", json=second)).status_code,
            (await http.post("/api/register", json=first)).status_code,  # replayed
            (await http.post("/api/register", json={**first, "name": "Other Name"})).status_code,
            (await http.post("/api/register", json={**first, "phone": "5"})).status_code,
            (await http.post("/api/register", content=b"x", headers=plain)).status_code,
            (await http.post("/api/register", json={**first, "name": "A" * 20_000})).status_code,
            (await http.get("/api/programs")).status_code,
            (await http.get("/health")).status_code,  # the ALB's probe: not counted
        ]  # fmt: skip
        assert statuses == [201, 201, 201, 409, 400, 415, 413, 200, 200]
        # Nine requests answered, no metric written: recording costs no I/O.
        assert capsys.readouterr().out == ""
        await app.state.metrics.flush()
        (line,) = capsys.readouterr().out.splitlines()
    document = parse_emf(line)
    assert document["Service"] == "schoolapp"
    assert document["Requests"] == 8
    assert (document["RegistrationsStored"], document["RegistrationsReplayed"]) == (2, 1)
    expected = {"Answers400": 1, "Answers409": 1, "Answers413": 1, "Answers415": 1}
    assert {name: document[name] for name in expected} == expected
    assert document["Answers422"] == document["Answers503"] == document["Answers5xx"] == 0
    assert 0 < document["RequestLatencyP50"] <= document["RequestLatencyP99"]
    # Every registration but the 415 and 413 took a connection.
    assert document["PoolAcquires"] >= 4
    assert document["PoolWaitP99"] > 0
    assert document["OutboxPending"] >= 0
    assert document["OutboxOldestPendingSeconds"] >= 0


async def test_metrics_off_starts_no_flusher_and_counts_nothing(
    make_settings: SettingsFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(make_settings(log_level="warning", metrics_interval_seconds="off"))
    assert app.state.metrics is None
    METRICS.take()
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
    ):
        assert (await http.post("/api/register", json=registration())).status_code == 201
    assert capsys.readouterr().out == ""
    assert not any(METRICS.take()[0].values())
