"""Shared fixtures: one real portal server for the integration tests, and users of every role."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.helpers import FIXTURE_CATALOG, PortalServer

PASSWORD = "correct-horse-battery"
# A PostgreSQL server the tests may create databases on (each test database is dropped afterwards).
POSTGRES_ADMIN_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def unavailable(reason: str) -> NoReturn:
    """Skip with the reason, except in CI (`CI=true`), where a missing service is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"a service the tests need is unavailable in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (`PORTAL_TEST_DATABASE_URL` names the server)."""
    admin_url = make_url(POSTGRES_ADMIN_URL)
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"portal_test_{uuid.uuid4().hex[:12]}"
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        engine.dispose()
        where = admin_url.render_as_string(hide_password=True)
        unavailable(f"PostgreSQL at {where} is unreachable: {str(exc).splitlines()[0]}")
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    portal = PortalServer(tmp_path_factory.mktemp("portal")).start()
    try:
        yield portal
    finally:
        portal.stop()


@pytest.fixture(scope="session")
def tokens(server: PortalServer) -> dict[str, str]:
    """An API token for a user of each role (and a second requester)."""
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
    """The test items (sleeper, broken tasks, ...) registered through the API."""
    with server.client(tokens["admin"]) as admin:
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
