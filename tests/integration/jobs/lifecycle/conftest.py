"""The job lifecycle suite runs twice: against the embedded executor (SQLite, jobs run in `portal serve`) and
against the distributed one (PostgreSQL, Redis, Celery, jobs run in a separate `portal worker`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import services
from tests.conftest import import_fixture_catalog, users_with_tokens
from tests.helpers import PortalServer, WorkerProcess, distributed_env


@pytest.fixture(scope="package", params=["embedded", "distributed"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    if request.param == "embedded":
        portal = PortalServer(tmp_path_factory.mktemp("embedded")).start()
        try:
            yield portal
        finally:
            portal.stop()
        return
    services.require("postgres", "redis")
    with services.postgres_database() as database_url, services.redis_namespace() as namespace:
        env = distributed_env(database_url, namespace, services.REDIS_URL)
        api = PortalServer(tmp_path_factory.mktemp("api"), env).start()
        worker = WorkerProcess(tmp_path_factory.mktemp("worker"), env)
        try:
            worker.start()
            yield api
        finally:
            worker.stop()
            api.stop()


@pytest.fixture(scope="package")
def tokens(server: PortalServer) -> dict[str, str]:
    return users_with_tokens(server)


@pytest.fixture(scope="package")
def fixture_catalog(server: PortalServer, tokens: dict[str, str]) -> Path:
    return import_fixture_catalog(server, tokens["admin"])
