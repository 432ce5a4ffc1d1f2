"""Probes, the CLI, the OpenAPI document and the error shape of routes that do not exist."""

from __future__ import annotations

import json
import stat

import httpx

from tests.helpers import PortalServer


def test_health_and_readiness(server: PortalServer) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/livez").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "sources": "ok", "executor": "ok"}


def test_unknown_api_route_uses_the_error_shape(server: PortalServer, tokens: dict[str, str]) -> None:
    response = server.client(tokens["admin"]).get("/api/no-such-thing")
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"code", "message", "details", "request_id"}
    assert response.headers["x-content-type-options"] == "nosniff"


def test_root_serves_a_page(server: PortalServer) -> None:
    response = httpx.get(f"{server.url}/jobs/123")
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]


def test_openapi_has_readable_operation_ids(server: PortalServer) -> None:
    result = server.cli("openapi")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    ids = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert {
        "jobs-create",
        "jobs-list",
        "jobs-get",
        "jobs-retry",
        "jobs-cancel",
        "catalog-list",
        "catalog-get-descriptor",
        "catalog-import-local",
        "auth-login",
    } <= ids


def test_openapi_describes_the_websocket_messages(server: PortalServer) -> None:
    result = server.cli("openapi")
    assert result.returncode == 0, result.stderr
    schemas = json.loads(result.stdout)["components"]["schemas"]
    union = schemas["WebSocketMessage"]
    assert union["discriminator"]["propertyName"] == "type"
    assert set(union["discriminator"]["mapping"]) == {"job.updated", "job.log", "sources.updated", "ping"}
    assert schemas["JobUpdatedMessage"]["properties"]["job"] == {"$ref": "#/components/schemas/JobOut"}
    assert all(
        "type" in schemas[name]["required"]
        for name in ("JobUpdatedMessage", "JobLogMessage", "SourcesUpdatedMessage", "PingMessage")
    )


def test_cli_users_and_tokens(server: PortalServer) -> None:
    created = server.cli("users", "create", "cli-user", "--role", "operator", stdin="")
    assert created.returncode == 0, created.stderr
    password = created.stdout.split("password: ")[1].strip()
    login = httpx.post(f"{server.url}/api/auth/login", json={"username": "cli-user", "password": password})
    assert login.status_code == 200 and login.json()["role"] == "operator"
    piped = server.cli(
        "users", "create", "cli-user2", "--role", "viewer", "--password-stdin", stdin="a-long-enough-password\n"
    )
    assert piped.returncode == 0 and "password:" not in piped.stdout
    duplicate = server.cli("users", "create", "cli-user", "--role", "viewer", stdin="")
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    token = server.cli("tokens", "create", "cli-user", "--name", "automation")
    assert token.returncode == 0 and token.stdout.startswith("ptk_")
    with server.client(token.stdout.strip()) as client:
        assert client.get("/api/auth/me").json()["username"] == "cli-user"
    listed = server.cli("users", "list")
    assert "cli-user\toperator\tactive" in listed.stdout
    missing = server.cli("tokens", "create", "ghost", "--name", "x")
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_the_data_directory_is_the_portals_alone(server: PortalServer) -> None:
    assert stat.S_IMODE(server.data_dir.stat().st_mode) == 0o700
    for name in ("portal.db", "initial-admin-password", "secrets.key"):
        path = server.data_dir / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    assert (server.data_dir / "portal.db").exists()
