"""Shared fixtures: one real portal server for the integration tests, and users of every role.

`make test` runs the tests on parallel workers (pytest-xdist), each a process with its own session fixtures (this
portal, the browser) and temporary folders; every portal gets a free port and a data directory of its own (and,
when distributed, a fresh database and Redis namespace). Each test file runs whole on one worker, in order
(`--dist loadfile`): its tests may share a portal of module or package scope and what the earlier ones left in it,
and what two workers must not use at once stays in one file (the sandbox's unprivileged user: containment/).
`--dist loadgroup` would allow finer groups, but pytest-xdist 3.8 silently ignores them on pytest 9.2
(pytest-dev/pytest-xdist#1386).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from portal import bootstrap
from portal.db import migrate
from portal.db import session as db
from portal.settings import Settings, use_settings
from tests import services
from tests.helpers import FIXTURE_CATALOG, PortalServer

PASSWORD = "correct-horse-battery"


@contextmanager
def migrated_database(request: pytest.FixtureRequest, data_dir: Path, **settings: Any) -> Iterator[Settings]:
    """This process's database for in-process tests: SQLite in `data_dir`, or a fresh PostgreSQL database when
    the test is parametrized with "postgresql"; migrated, and disposed of afterwards."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else ""
    configured = Settings(data_dir=data_dir, database_url=url, **settings)
    use_settings(configured)
    db.configure(configured)
    migrate.upgrade()
    try:
        yield configured
    finally:
        bootstrap.reset_process()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The SQLAlchemy URL of a fresh PostgreSQL database on PORTAL_TEST_DATABASE_URL, dropped afterwards."""
    services.require("postgres")
    with services.postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    portal = PortalServer(tmp_path_factory.mktemp("portal")).start()
    try:
        yield portal
    finally:
        portal.stop()


@pytest.fixture(scope="session")
def tokens(server: PortalServer) -> dict[str, str]:
    return users_with_tokens(server)


def users_with_tokens(server: PortalServer) -> dict[str, str]:
    """Users of each role (and a second requester) created through the API, and an API token for each."""
    out = {"admin": server.token_for("admin")}
    with server.client(out["admin"]) as admin:
        for name, role in [
            ("viewer1", "viewer"),
            ("req1", "requester"),
            ("req2", "requester"),
            ("op1", "operator"),
            ("pub1", "publisher"),
        ]:
            created = admin.post("/api/admin/users", json={"username": name, "role": role, "password": PASSWORD})
            assert created.status_code == 201, created.text
            with server.session(name, PASSWORD) as browser:
                token = browser.post("/api/auth/tokens", json={"name": "tests"})
                assert token.status_code == 201, token.text
                out[name] = token.json()["secret"]
    return out


@pytest.fixture(scope="session")
def fixture_catalog(server: PortalServer, tokens: dict[str, str]) -> Path:
    return import_fixture_catalog(server, tokens["admin"])


def import_fixture_catalog(server: PortalServer, admin_token: str) -> Path:
    """The test items (sleeper, broken tasks, ...) registered through the API."""
    with server.client(admin_token) as admin:
        response = admin.post("/api/catalog/local/import", json={"path": str(FIXTURE_CATALOG)})
        assert response.status_code == 200, response.text
    return FIXTURE_CATALOG


@pytest.fixture
def admin(server: PortalServer, tokens: dict[str, str], fixture_catalog: Path) -> Iterator[httpx.Client]:
    with server.client(tokens["admin"]) as client:
        yield client


@pytest.fixture
def requester(server: PortalServer, tokens: dict[str, str], fixture_catalog: Path) -> Iterator[httpx.Client]:
    with server.client(tokens["req1"]) as client:
        yield client


@pytest.fixture
def other_requester(server: PortalServer, tokens: dict[str, str]) -> Iterator[httpx.Client]:
    with server.client(tokens["req2"]) as client:
        yield client


@pytest.fixture
def operator(server: PortalServer, tokens: dict[str, str]) -> Iterator[httpx.Client]:
    with server.client(tokens["op1"]) as client:
        yield client


@pytest.fixture
def viewer(server: PortalServer, tokens: dict[str, str]) -> Iterator[httpx.Client]:
    with server.client(tokens["viewer1"]) as client:
        yield client


@pytest.fixture
def publisher(server: PortalServer, tokens: dict[str, str]) -> Iterator[httpx.Client]:
    with server.client(tokens["pub1"]) as client:
        yield client
