"""Login, sessions with CSRF, bearer tokens, roles enforced by the server, and the audit trail of it all."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import PortalServer


def login(server: PortalServer, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{server.url}/api/auth/login", json={"username": username, "password": password})


def test_login_sets_httponly_session_and_csrf_cookie(server: PortalServer) -> None:
    response = login(server, "admin", server.admin_password)
    assert response.status_code == 200
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("portal_session="))
    csrf = next(c for c in cookies if c.startswith("portal_csrf="))
    assert "HttpOnly" in session and "SameSite=lax" in session
    assert "HttpOnly" not in csrf
    assert response.json()["role"] == "admin"


def test_wrong_password_and_unknown_user_get_the_same_401(server: PortalServer) -> None:
    wrong_password = login(server, "admin", "not-the-password")
    unknown_user = login(server, "nobody-here", "whatever-it-is")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.json()["error"]["message"] == unknown_user.json()["error"]["message"]
    assert "set-cookie" not in wrong_password.headers


def test_session_requires_csrf_on_state_changing_requests(server: PortalServer) -> None:
    with httpx.Client(base_url=server.url) as browser:
        response = browser.post("/api/auth/login", json={"username": "admin", "password": server.admin_password})
        csrf = response.json()["csrf_token"]
        assert browser.get("/api/auth/me").json()["username"] == "admin"
        body = {"item_id": "noop", "inputs": {}}
        refused = browser.post("/api/jobs", json=body)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
        assert browser.post("/api/jobs", json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
        accepted = browser.post("/api/jobs", json=body, headers={"X-CSRF-Token": csrf})
        assert accepted.status_code == 201, accepted.text
        assert browser.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert browser.get("/api/auth/me").status_code == 401


def test_unauthenticated_requests_are_refused(server: PortalServer) -> None:
    for method, path in [
        ("GET", "/api/jobs"),
        ("GET", "/api/catalog"),
        ("POST", "/api/jobs"),
        ("GET", "/api/jobs/1"),
        ("POST", "/api/catalog/local/import"),
        ("GET", "/api/admin/audit"),
    ]:
        response = httpx.request(method, f"{server.url}{path}", json={})
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "unauthorized"


def test_garbage_and_revoked_tokens_get_401(server: PortalServer, tokens: dict[str, str]) -> None:
    assert server.client("ptk_not-a-real-token").get("/api/auth/me").status_code == 401
    assert server.client("Basic something").get("/api/auth/me").status_code == 401
    with server.client(tokens["req1"]) as client:
        created = client.post("/api/auth/tokens", json={"name": "short-lived"})
        assert created.status_code == 201
        secret, token_id = created.json()["secret"], created.json()["token"]["id"]
        with server.client(secret) as short:
            assert short.get("/api/auth/me").json()["username"] == "req1"
            assert client.delete(f"/api/auth/tokens/{token_id}").status_code == 204
            revoked = short.get("/api/auth/me")
            assert revoked.status_code == 401
            assert revoked.json()["error"]["message"] == "invalid, expired or revoked token"
        listed = {t["id"]: t for t in client.get("/api/auth/tokens").json()}
        assert listed[token_id]["revoked_at"] is not None
        assert listed[token_id]["last_used_at"] is not None


def test_expired_token_gets_401(server: PortalServer, tokens: dict[str, str]) -> None:
    with server.client(tokens["req1"]) as client:
        created = client.post("/api/auth/tokens", json={"name": "expiring", "expires_days": 0.00001})
        assert created.status_code == 201
    import time

    time.sleep(1.0)
    assert server.client(created.json()["secret"]).get("/api/auth/me").status_code == 401


def test_roles_are_enforced_by_the_server(server: PortalServer, tokens: dict[str, str]) -> None:
    job = {"item_id": "noop", "inputs": {}}
    with server.client(tokens["viewer1"]) as viewer:
        assert viewer.get("/api/catalog").status_code == 200
        refused = viewer.post("/api/jobs", json=job)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    with server.client(tokens["req1"]) as requester:
        assert requester.post("/api/jobs", json=job).status_code == 201
        assert requester.post("/api/catalog/local/import", json={"path": "/tmp"}).status_code == 403
        assert requester.get("/api/admin/users").status_code == 403
        assert requester.get("/api/admin/audit").status_code == 403
        assert requester.get("/api/openapi.json").status_code == 403
    with server.client(tokens["pub1"]) as publisher:
        assert publisher.get("/api/admin/users").status_code == 403
    with server.client(tokens["admin"]) as admin:
        assert admin.get("/api/admin/users").status_code == 200
        assert admin.get("/api/openapi.json").json()["info"]["title"] == "Self-Service Portal"


def test_admin_creates_users_with_validation(server: PortalServer, tokens: dict[str, str]) -> None:
    with server.client(tokens["admin"]) as admin:
        created = admin.post("/api/admin/users", json={"username": "newbie", "role": "requester"})
        assert created.status_code == 201
        password = created.json()["generated_password"]
        assert password and len(password) >= 16
        assert login(server, "newbie", password).status_code == 200
        duplicate = admin.post("/api/admin/users", json={"username": "newbie", "role": "requester"})
        assert duplicate.status_code == 409
        bad = admin.post("/api/admin/users", json={"username": "Bad Name", "role": "emperor", "password": "x"})
        assert bad.status_code == 422
        assert {d["field"] for d in bad.json()["error"]["details"]} == {"username", "role", "password"}


def test_audit_records_logins_users_and_tokens(server: PortalServer, tokens: dict[str, str]) -> None:
    login(server, "admin", "wrong-password-for-audit")
    with server.client(tokens["admin"]) as admin:
        entries = admin.get("/api/admin/audit", params={"limit": 1000}).json()["items"]
    actions = {e["action"] for e in entries}
    assert {"auth.login", "auth.login_failed", "user.create", "token.create", "token.revoke"} <= actions
    failed = next(e for e in entries if e["action"] == "auth.login_failed")
    assert failed["target_id"] == "admin" and failed["ip"] == "127.0.0.1" and failed["request_id"]


def test_over_https_behind_a_trusted_proxy_cookies_are_secure_with_hsts(
    server: PortalServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    # A client that is not a trusted proxy cannot claim HTTPS (or another address) for itself.
    untrusted = httpx.post(
        f"{server.url}/api/auth/login",
        json={"username": "admin", "password": server.admin_password},
        headers=forwarded,
    )
    assert untrusted.status_code == 200
    assert not any("Secure" in c for c in untrusted.headers.get_list("set-cookie"))
    assert "strict-transport-security" not in untrusted.headers
    behind = PortalServer(tmp_path_factory.mktemp("proxied"), {"PORTAL_TRUSTED_PROXIES": "127.0.0.1/32"}).start()
    try:
        trusted = httpx.post(
            f"{behind.url}/api/auth/login",
            json={"username": "admin", "password": behind.admin_password},
            headers=forwarded,
        )
        assert trusted.status_code == 200
        assert all("Secure" in c for c in trusted.headers.get_list("set-cookie"))
        assert trusted.headers["strict-transport-security"].startswith("max-age=")
        plain = httpx.get(f"{behind.url}/healthz")  # straight HTTP from the proxy's address: no HSTS
        assert "strict-transport-security" not in plain.headers
    finally:
        behind.stop()
