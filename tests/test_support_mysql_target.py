"""tests/support/mysql_target.py: which server the tests use, and the podman path to it.

The `testcontainers` tests need a Docker API that runs deploy/mariadb_test_image.py's
image: `make test` deselects them (pyproject's addopts), `bash .ci/testcontainers`
runs them with DOCKER_HOST at `podman system service`'s socket.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import docker
import pymysql
import pytest

from tests.support.mysql_target import IMAGE_VARIABLE, URL_VARIABLE, MySQLTarget, mysql_target
from tests.support.ports import free_port

ACCESS_DENIED = 1045


def test_without_an_engine_the_url_names_the_server(
    mysql: MySQLTarget, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    url = f"mysql://{mysql.user}:{mysql.password}@{mysql.host}:{mysql.port}"
    monkeypatch.setenv(URL_VARIABLE, url)
    with mysql_target() as target:
        assert (target.origin, target.host, target.port) == (URL_VARIABLE, mysql.host, mysql.port)
        assert target.describe() == f"{URL_VARIABLE} at {mysql.host}:{mysql.port}"
        assert target.execute("SELECT 1") == [(1,)]


def test_a_url_where_nothing_answers_fails_and_names_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    port = free_port()
    monkeypatch.setenv(URL_VARIABLE, f"mysql://root@127.0.0.1:{port}")
    expected = rf"no MySQL server .*{URL_VARIABLE} at 127.0.0.1:{port}"
    with pytest.raises(RuntimeError, match=expected), mysql_target():
        pass


@pytest.mark.testcontainers
def test_podman_runs_the_mariadb_image_through_testcontainers(mysql: MySQLTarget) -> None:
    assert mysql.origin == f"testcontainers {os.environ[IMAGE_VARIABLE]} on podman"
    (version,) = mysql.execute("SELECT VERSION()")[0]
    assert "MariaDB" in version
    with contextlib.closing(docker.from_env()) as client:
        container = client.containers.get(mysql.container)
        assert container.status == "running"
        assert container.attrs["HostConfig"]["NetworkMode"] == "slirp4netns"
        assert container.labels["org.testcontainers"] == "true"


@pytest.mark.testcontainers
def test_the_entrypoint_set_the_root_password(mysql: MySQLTarget) -> None:
    with pytest.raises(pymysql.err.OperationalError) as denied:
        MySQLTarget(mysql.host, mysql.port, "root", "", origin="no password").execute("SELECT 1")
    assert denied.value.args[0] == ACCESS_DENIED
    assert mysql.execute("SELECT CURRENT_USER()") == [("root@%",)]
