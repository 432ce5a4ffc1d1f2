"""Shared fixtures: one real portal server for the integration tests, and users of every role."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.helpers import FIXTURE_CATALOG, PortalServer

PASSWORD = "correct-horse-battery"
# A PostgreSQL server that accepts CREATE DATABASE (trust auth on localhost by default).
POSTGRES_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def service_unavailable(reason: str) -> None:
    """Skip a test whose real service is unreachable, with the reason; under `CI=true` that is a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(reason)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The SQLAlchemy URL of a fresh PostgreSQL database on PORTAL_TEST_DATABASE_URL, dropped afterwards."""
    admin_url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"portal_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        service_unavailable(f"PostgreSQL is not reachable at {admin_url}: {exc}")
        raise  # not reached: skip and fail raise
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
