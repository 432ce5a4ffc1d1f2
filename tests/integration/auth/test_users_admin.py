"""Users and tokens administration: roles, disabling, password resets and changes, every rule and its audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.helpers import PortalServer

NEW_PASSWORD = "a-brand-new-passphrase"


@pytest.fixture
def admin_client(server: PortalServer, tokens: dict[str, str]) -> Iterator[httpx.Client]:
    with server.client(tokens["admin"]) as client:
        yield client


def create_user(admin: httpx.Client, username: str, role: str = "requester", **extra: Any) -> int:
    response = admin.post("/api/admin/users", json={"username": username, "role": role, "password": PASSWORD, **extra})
    assert response.status_code == 201, response.text
    return int(response.json()["user"]["id"])


def browser_login(server: PortalServer, username: str) -> AbstractContextManager[httpx.Client]:
    """A logged-in browser: session cookie, and the CSRF header sent on every request."""
    return server.session(username, PASSWORD)


def token_of(server: PortalServer, username: str) -> str:
    """A new API token of `username`, made in a session that then logs out."""
    with browser_login(server, username) as browser:
        response = browser.post("/api/auth/tokens", json={"name": "automation"})
        assert response.status_code == 201, response.text
        assert browser.post("/api/auth/logout").status_code == 204
        return str(response.json()["secret"])


def can_log_in(server: PortalServer, username: str, password: str) -> bool:
    """Whether the password logs in (the session it opens is closed again)."""
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        response = browser.post("/api/auth/login", json={"username": username, "password": password})
        if response.status_code != 200:
            return False
        csrf = response.json()["csrf_token"]
        assert browser.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        return True


def audit(admin: httpx.Client, action: str, target_id: str) -> list[dict[str, Any]]:
    response = admin.get("/api/admin/audit", params={"action": action, "target_id": target_id})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


@pytest.mark.parametrize("role_user", ["viewer1", "req1", "op1", "pub1"])
def test_every_role_below_admin_gets_403(server: PortalServer, tokens: dict[str, str], role_user: str) -> None:
    with server.client(tokens[role_user]) as client:
        for method, path, body in [
            ("GET", "/api/admin/users", None),
            ("GET", "/api/admin/users/1", None),
            ("PATCH", "/api/admin/users/1", {"role": "admin"}),
            ("POST", "/api/admin/users/1/reset-password", {}),
            ("GET", "/api/admin/tokens", None),
            ("DELETE", "/api/admin/tokens/1", None),
        ]:
            response = client.request(method, path, json=body)
            assert response.status_code == 403, (role_user, method, path, response.text)
            assert response.json()["error"]["code"] == "forbidden"


def test_list_filters_and_get(admin_client: httpx.Client) -> None:
    alpha = create_user(admin_client, "flt-alpha", "operator", display_name="Alpha Tester")
    beta = create_user(admin_client, "flt-beta", "viewer")
    assert admin_client.patch(f"/api/admin/users/{beta}", json={"disabled": True}).status_code == 200

    def names(**params: Any) -> set[str]:
        response = admin_client.get("/api/admin/users", params=params)
        assert response.status_code == 200, response.text
        return {u["username"] for u in response.json()}

    assert names(q="flt-") == {"flt-alpha", "flt-beta"}
    assert names(q="TESTER") == {"flt-alpha"}  # display name, any case
    assert names(q="flt-", role="operator") == {"flt-alpha"}
    assert names(q="flt-", disabled="true") == {"flt-beta"}
    assert names(q="flt-", disabled="false") == {"flt-alpha"}
    assert names(q="%") == set()  # a literal, not a wildcard
    assert admin_client.get("/api/admin/users", params={"role": "emperor"}).status_code == 422

    one = admin_client.get(f"/api/admin/users/{alpha}")
    assert one.status_code == 200
    assert one.json()["username"] == "flt-alpha" and one.json()["display_name"] == "Alpha Tester"
    assert "password_hash" not in one.json()
    assert admin_client.get("/api/admin/users/999999").status_code == 404


def test_update_validates_and_audits_before_and_after(admin_client: httpx.Client) -> None:
    user_id = create_user(admin_client, "upd-user", "viewer")
    assert admin_client.patch("/api/admin/users/999999", json={"role": "viewer"}).status_code == 404
    bad_role = admin_client.patch(f"/api/admin/users/{user_id}", json={"role": "emperor"})
    assert bad_role.status_code == 422 and bad_role.json()["error"]["details"][0]["field"] == "role"
    unknown = admin_client.patch(f"/api/admin/users/{user_id}", json={"password_hash": "x"})
    assert unknown.status_code == 422 and unknown.json()["error"]["details"][0]["field"] == "password_hash"
    assert admin_client.patch(f"/api/admin/users/{user_id}", json={"display_name": "x" * 201}).status_code == 422
    assert admin_client.patch(f"/api/admin/users/{user_id}", json={"disabled": "maybe"}).status_code == 422
    assert audit(admin_client, "user.update", "upd-user") == []

    updated = admin_client.patch(f"/api/admin/users/{user_id}", json={"role": "operator", "display_name": "Upd"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["role"] == "operator" and updated.json()["display_name"] == "Upd"
    unchanged = admin_client.patch(f"/api/admin/users/{user_id}", json={"role": "operator"})
    assert unchanged.status_code == 200

    [entry] = audit(admin_client, "user.update", "upd-user")  # the no-op wrote nothing
    assert entry["actor_name"] == "admin" and entry["target_type"] == "user"
    assert entry["details"] == {
        "before": {"role": "viewer", "display_name": ""},
        "after": {"role": "operator", "display_name": "Upd"},
    }


def test_disabling_ends_sessions_and_refuses_tokens_at_once(server: PortalServer, admin_client: httpx.Client) -> None:
    user_id = create_user(admin_client, "dis-user")
    token = token_of(server, "dis-user")
    with browser_login(server, "dis-user") as browser, server.client(token) as bearer:
        assert browser.get("/api/auth/me").status_code == 200
        assert bearer.get("/api/auth/me").status_code == 200

        disabled = admin_client.patch(f"/api/admin/users/{user_id}", json={"disabled": True})
        assert disabled.status_code == 200 and disabled.json()["disabled"] is True
        assert browser.get("/api/auth/me").status_code == 401
        assert bearer.get("/api/auth/me").status_code == 401
        assert not can_log_in(server, "dis-user", PASSWORD)
        active = admin_client.get("/api/admin/tokens", params={"username": "dis-user", "active": "true"})
        assert active.json()["total"] == 0

        enabled = admin_client.patch(f"/api/admin/users/{user_id}", json={"disabled": False})
        assert enabled.status_code == 200 and enabled.json()["disabled"] is False
        assert browser.get("/api/auth/me").status_code == 401  # the session ended for good
        assert bearer.get("/api/auth/me").status_code == 200  # tokens were refused, not revoked
        assert can_log_in(server, "dis-user", PASSWORD)

    [disable] = audit(admin_client, "user.disable", "dis-user")
    assert disable["details"] == {"before": {"disabled": False}, "after": {"disabled": True}, "sessions_ended": 1}
    [enable] = audit(admin_client, "user.enable", "dis-user")
    assert enable["details"] == {"before": {"disabled": True}, "after": {"disabled": False}}


def test_role_change_applies_at_once_to_sessions_and_tokens(server: PortalServer, admin_client: httpx.Client) -> None:
    user_id = create_user(admin_client, "role-user", "requester")
    token = token_of(server, "role-user")
    with browser_login(server, "role-user") as browser, server.client(token) as bearer:
        assert browser.get("/api/admin/users").status_code == 403
        assert bearer.get("/api/admin/users").status_code == 403

        assert admin_client.patch(f"/api/admin/users/{user_id}", json={"role": "admin"}).status_code == 200
        assert browser.get("/api/admin/users").status_code == 200
        assert bearer.get("/api/admin/users").status_code == 200
        assert bearer.get("/api/auth/me").json()["role"] == "admin"

        assert admin_client.patch(f"/api/admin/users/{user_id}", json={"role": "viewer"}).status_code == 200
        assert browser.get("/api/admin/users").status_code == 403
        assert bearer.post("/api/jobs", json={"item_id": "noop", "inputs": {}}).status_code == 403
        assert browser.get("/api/auth/me").json()["role"] == "viewer"

    changes = [e["details"] for e in audit(admin_client, "user.update", "role-user")]
    assert changes == [
        {"before": {"role": "admin"}, "after": {"role": "viewer"}},
        {"before": {"role": "requester"}, "after": {"role": "admin"}},
    ]


def test_last_admin_and_self_lockout_are_refused(server: PortalServer, admin_client: httpx.Client) -> None:
    enabled_admins = admin_client.get("/api/admin/users", params={"role": "admin", "disabled": "false"}).json()
    assert [u["username"] for u in enabled_admins] == ["admin"], "another test left an enabled admin behind"
    admin_id = enabled_admins[0]["id"]

    for change in ({"role": "operator"}, {"disabled": True}):
        refused = admin_client.patch(f"/api/admin/users/{admin_id}", json=change)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["message"] == "admin is the last enabled admin: make another user admin first"
        assert refused.json()["error"]["details"] == {"rule": "last_admin"}

    second_id = create_user(admin_client, "second-admin", "admin")
    with server.client(token_of(server, "second-admin")) as second:
        for change in ({"role": "publisher"}, {"disabled": True}):
            refused = second.patch(f"/api/admin/users/{second_id}", json=change)
            assert refused.status_code == 409, refused.text
            assert refused.json()["error"]["details"] == {"rule": "self"}
        assert second.get("/api/auth/me").json()["role"] == "admin"
        assert second.patch(f"/api/admin/users/{second_id}", json={"display_name": "Second"}).status_code == 200

        assert admin_client.patch(f"/api/admin/users/{second_id}", json={"disabled": True}).status_code == 200
        assert second.get("/api/auth/me").status_code == 401

    # A disabled admin does not count: `admin` is the last enabled one again, and a disabled admin may be demoted.
    refused = admin_client.patch(f"/api/admin/users/{admin_id}", json={"role": "operator"})
    assert refused.status_code == 409 and refused.json()["error"]["details"] == {"rule": "last_admin"}
    assert admin_client.patch(f"/api/admin/users/{second_id}", json={"role": "viewer"}).status_code == 200
    assert admin_client.get("/api/auth/me").json()["role"] == "admin"
    assert audit(admin_client, "user.update", "admin") == []
    assert audit(admin_client, "user.disable", "admin") == []


def test_reset_password_ends_sessions(server: PortalServer, admin_client: httpx.Client) -> None:
    user_id = create_user(admin_client, "reset-user")
    token = token_of(server, "reset-user")
    with browser_login(server, "reset-user") as browser:
        generated = admin_client.post(f"/api/admin/users/{user_id}/reset-password")
        assert generated.status_code == 200, generated.text
        password = generated.json()["generated_password"]
        assert password and len(password) >= 12
        assert browser.get("/api/auth/me").status_code == 401
    assert not can_log_in(server, "reset-user", PASSWORD)
    assert can_log_in(server, "reset-user", password)
    with server.client(token) as bearer:
        assert bearer.get("/api/auth/me").status_code == 200  # a password reset does not touch tokens

    short = admin_client.post(f"/api/admin/users/{user_id}/reset-password", json={"password": "too-short"})
    assert short.status_code == 422
    assert short.json()["error"]["details"] == [{"field": "password", "message": "at least 12 characters"}]
    chosen = admin_client.post(f"/api/admin/users/{user_id}/reset-password", json={"password": NEW_PASSWORD})
    assert chosen.status_code == 200 and chosen.json() == {"generated_password": None}
    assert can_log_in(server, "reset-user", NEW_PASSWORD)

    assert admin_client.post("/api/admin/users/999999/reset-password").status_code == 404
    admin_id = next(u["id"] for u in admin_client.get("/api/admin/users").json() if u["username"] == "admin")
    own = admin_client.post(f"/api/admin/users/{admin_id}/reset-password")
    assert own.status_code == 409 and "POST /api/auth/password" in own.json()["error"]["message"]

    entries = audit(admin_client, "user.password_reset", "reset-user")
    assert [e["details"] for e in entries] == [
        {"generated": False, "sessions_ended": 0},
        {"generated": True, "sessions_ended": 1},
    ]
    assert password not in str(entries) and NEW_PASSWORD not in str(entries)


def test_password_change_keeps_this_session_and_ends_the_others(
    server: PortalServer, admin_client: httpx.Client
) -> None:
    create_user(admin_client, "pw-user")
    token = token_of(server, "pw-user")
    with (
        browser_login(server, "pw-user") as this,
        browser_login(server, "pw-user") as other,
        server.client(token) as bearer,
    ):
        wrong = this.post("/api/auth/password", json={"current_password": "wrong", "new_password": "short"})
        assert wrong.status_code == 422
        assert {d["field"] for d in wrong.json()["error"]["details"]} == {"current_password", "new_password"}
        same = this.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": PASSWORD})
        assert same.status_code == 422 and same.json()["error"]["details"][0]["field"] == "new_password"
        assert other.get("/api/auth/me").status_code == 200

        changed = this.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
        assert changed.status_code == 204, changed.text
        assert this.get("/api/auth/me").status_code == 200
        assert other.get("/api/auth/me").status_code == 401
        assert bearer.get("/api/auth/me").status_code == 200
        assert not can_log_in(server, "pw-user", PASSWORD)
        assert can_log_in(server, "pw-user", NEW_PASSWORD)

        # Through a token no session is the caller's own: all of them end.
        back = bearer.post("/api/auth/password", json={"current_password": NEW_PASSWORD, "new_password": PASSWORD})
        assert back.status_code == 204, back.text
        assert this.get("/api/auth/me").status_code == 401

    entries = audit(admin_client, "user.password_change", "pw-user")
    assert [e["details"] for e in entries] == [{"sessions_ended": 1}, {"sessions_ended": 1}]
    assert entries[0]["actor_name"] == "pw-user"
    assert NEW_PASSWORD not in str(entries)


def test_admin_lists_and_revokes_any_token(server: PortalServer, admin_client: httpx.Client) -> None:
    create_user(admin_client, "tok-user")
    first, second = token_of(server, "tok-user"), token_of(server, "tok-user")

    listed = admin_client.get("/api/admin/tokens", params={"username": "tok-user"})
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert page["total"] == 2 and [t["username"] for t in page["items"]] == ["tok-user", "tok-user"]
    newest, oldest = page["items"]
    assert newest["id"] > oldest["id"] and "token_hash" not in newest
    assert first.startswith(oldest["prefix"]) and second.startswith(newest["prefix"])

    with server.client(first) as bearer:
        assert bearer.get("/api/auth/me").status_code == 200
        assert admin_client.delete(f"/api/admin/tokens/{oldest['id']}").status_code == 204
        assert bearer.get("/api/auth/me").status_code == 401
    with server.client(second) as bearer:
        assert bearer.get("/api/auth/me").status_code == 200
    again = admin_client.delete(f"/api/admin/tokens/{oldest['id']}")
    assert again.status_code == 409
    assert admin_client.delete("/api/admin/tokens/999999").status_code == 404

    def ids(**params: Any) -> list[int]:
        response = admin_client.get("/api/admin/tokens", params={"username": "tok-user", **params})
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["items"]]

    assert ids(active="true") == [newest["id"]]
    assert ids(active="false") == [oldest["id"]]
    assert ids(page_size=1, page=2) == [oldest["id"]]
    everyone = admin_client.get("/api/admin/tokens", params={"page_size": 1000}).json()
    assert {"admin", "req1", "tok-user"} <= {t["username"] for t in everyone["items"]}
    assert admin_client.get("/api/admin/tokens", params={"page_size": 0}).status_code == 422

    [entry] = audit(admin_client, "token.revoke", str(oldest["id"]))
    assert entry["actor_name"] == "admin"
    assert entry["details"] == {"name": "automation", "user": "tok-user"}


@pytest.mark.parametrize(
    ("username", "password"),
    [("weak1", "aaaaaaaaaaaa"), ("weak2", "password1234"), ("margaret", "margaret1234!"), ("weak3", "qwertyuiopas")],
)
def test_passwords_that_are_easy_to_guess_are_refused(admin_client: httpx.Client, username: str, password: str) -> None:
    response = admin_client.post(
        "/api/admin/users", json={"username": username, "role": "viewer", "password": password}
    )
    assert response.status_code == 422, response.text
    detail = response.json()["error"]["details"][0]
    assert detail["field"] == "password" and detail["message"].startswith("too easy to guess"), detail
    assert all(u["username"] != username for u in admin_client.get("/api/admin/users").json())
