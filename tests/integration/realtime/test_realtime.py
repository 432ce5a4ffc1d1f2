"""WebSocket streams: authentication, visibility, each update once with an increasing rev, and live logs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection

from portal.realtime.messages import PING_TEXT, websocket_message
from tests.conftest import PASSWORD
from tests.helpers import PortalServer, collect, finished, wait_for_job, ws


def test_unauthenticated_handshake_is_refused(server: PortalServer) -> None:
    with pytest.raises(InvalidStatus):
        ws(server, "/ws/jobs")
    with pytest.raises(InvalidStatus):
        ws(server, "/ws/jobs", token="ptk_wrong")


def test_cookie_session_from_another_origin_is_refused(server: PortalServer) -> None:
    login = httpx.post(f"{server.url}/api/auth/login", json={"username": "admin", "password": server.admin_password})
    cookie = f"portal_session={login.cookies['portal_session']}"
    with pytest.raises(InvalidStatus):
        ws(server, "/ws/jobs", Cookie=cookie, Origin="https://evil.example")
    with ws(server, "/ws/jobs", Cookie=cookie, Origin=server.url) as conn:
        conn.send("hello")  # accepted: a browser on our own origin


def test_each_update_arrives_once_with_increasing_rev(
    server: PortalServer, tokens: dict[str, str], requester: httpx.Client
) -> None:
    with ws(server, "/ws/jobs", tokens["req1"]) as conn:
        job = requester.post("/api/jobs", json={"item_id": "chatty", "inputs": {"lines": 3, "progress_steps": 20}})
        job_id = job.json()["id"]
        messages = [
            m for m in collect(conn, finished(job_id)) if m.get("type") == "job.updated" and m["job"]["id"] == job_id
        ]
    revs = [m["rev"] for m in messages]
    assert revs == sorted(set(revs)), revs  # strictly increasing: no duplicates, no reordering
    assert revs[0] == 1
    states = [m["job"]["state"] for m in messages]
    assert states[0] == "QUEUED" and "RUNNING" in states and states[-1] == "SUCCEEDED"
    assert any(m["job"]["state"] == "RUNNING" and 0 < m["job"]["progress"] < 100 for m in messages)
    final = requester.get(f"/api/jobs/{job_id}").json()
    assert final["rev"] == revs[-1]


def test_requester_receives_only_own_jobs_operator_all(
    server: PortalServer, tokens: dict[str, str], requester: httpx.Client, other_requester: httpx.Client
) -> None:
    with ws(server, "/ws/jobs", tokens["req1"]) as mine, ws(server, "/ws/jobs", tokens["op1"]) as operator:
        theirs = other_requester.post("/api/jobs", json={"item_id": "noop", "inputs": {}}).json()["id"]
        own = requester.post("/api/jobs", json={"item_id": "noop", "inputs": {}}).json()["id"]
        seen_by_operator = collect(
            operator, lambda m: m.get("job", {}).get("id") == own and m["job"]["state"] == "SUCCEEDED"
        )
        seen_by_me = collect(mine, finished(own))
    operator_ids = {m["job"]["id"] for m in seen_by_operator if m.get("type") == "job.updated"}
    my_ids = {m["job"]["id"] for m in seen_by_me if m.get("type") == "job.updated"}
    assert {theirs, own} <= operator_ids
    assert own in my_ids and theirs not in my_ids


def test_job_stream_carries_logs_and_is_private(
    server: PortalServer, tokens: dict[str, str], requester: httpx.Client
) -> None:
    job_id = requester.post("/api/jobs", json={"item_id": "sleeper", "inputs": {"seconds": 1}}).json()["id"]
    with pytest.raises(InvalidStatus):
        ws(server, f"/ws/jobs/{job_id}", tokens["req2"])
    with ws(server, f"/ws/jobs/{job_id}", tokens["req1"]) as conn:
        chatty = requester.post("/api/jobs", json={"item_id": "chatty", "inputs": {"lines": 5}}).json()["id"]
        messages = collect(conn, finished(job_id))
    assert all(m.get("job", {}).get("id", job_id) == job_id for m in messages)
    assert all(m.get("job_id", job_id) == job_id for m in messages)
    assert chatty != job_id
    with ws(server, f"/ws/jobs/{chatty}", tokens["req1"]) as conn:
        pass  # finished already: nothing more to stream, the page refetches on connect
    wait_for_job(requester, chatty, {"SUCCEEDED"})
    logs = requester.get(f"/api/jobs/{chatty}/logs").json()["items"]
    assert [line["line"] for line in logs] == [f"line {i}" for i in range(5)]


def test_live_log_lines_stream_while_running(
    server: PortalServer, tokens: dict[str, str], requester: httpx.Client
) -> None:
    with ws(server, "/ws/jobs", tokens["req1"]) as updates:
        job_id = requester.post("/api/jobs", json={"item_id": "example-long-task", "inputs": {}}).json()["id"]
        collect(updates, lambda m: m.get("job", {}).get("id") == job_id and m["job"]["state"] == "RUNNING")
    with ws(server, f"/ws/jobs/{job_id}", tokens["req1"]) as conn:
        messages = collect(conn, finished(job_id), timeout=30)
    progress = [m["job"]["progress"] for m in messages if m.get("type") == "job.updated"]
    assert progress and progress[-1] == 100 and len(progress) >= 3


def test_streamed_log_lines_carry_the_ids_of_the_stored_ones(
    server: PortalServer, tokens: dict[str, str], requester: httpx.Client
) -> None:
    job_id = requester.post("/api/jobs", json={"item_id": "example-long-task", "inputs": {}}).json()["id"]
    with ws(server, f"/ws/jobs/{job_id}", tokens["req1"]) as conn:
        messages = collect(conn, finished(job_id), timeout=30)
    streamed = [(line["id"], line["line"]) for m in messages if m.get("type") == "job.log" for line in m["lines"]]
    stored = [(line["id"], line["line"]) for line in requester.get(f"/api/jobs/{job_id}/logs").json()["items"]]
    assert streamed and streamed == stored[-len(streamed) :]


def test_every_streamed_message_is_a_websocket_message(
    server: PortalServer, tokens: dict[str, str], requester: httpx.Client
) -> None:
    """What the streams send is what the models (and so the OpenAPI document and the browser's types) describe:
    each message validates, and dumps back to exactly what was sent (no field the models do not name)."""
    with ws(server, "/ws/jobs", tokens["req1"]) as updates:
        # The delay: time to subscribe before the first line (on a busy machine the job could end first).
        inputs = {"lines": 5, "delay": 1}
        job_id = requester.post("/api/jobs", json={"item_id": "chatty", "inputs": inputs}).json()["id"]
        with ws(server, f"/ws/jobs/{job_id}", tokens["req1"]) as conn:
            messages = collect(conn, finished(job_id)) + collect(updates, finished(job_id))
    assert {m["type"] for m in messages} - {"ping"} == {"job.updated", "job.log"}  # a ping may come any time
    for message in [*messages, json.loads(PING_TEXT)]:
        assert websocket_message.validate_python(message).model_dump(mode="json") == message


def read_until_closed(conn: ClientConnection, timeout: float = 15.0) -> tuple[list[dict[str, Any]], int | None]:
    """What the server sends until it closes the stream (and its close code), or until `timeout` (None)."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            messages.append(json.loads(conn.recv(timeout=max(0.01, deadline - time.monotonic()))))
        except TimeoutError:
            break
        except ConnectionClosed as closed:
            return messages, closed.rcvd.code if closed.rcvd is not None else -1
    return messages, None


def closed_for_credentials(conn: ClientConnection) -> bool:
    """Whether the server closes the stream as no longer authorised. The test portals recheck credentials on a
    timer only every 600 s: a close here came from the change itself."""
    return read_until_closed(conn)[1] == 1008


def chatter(client: httpx.Client) -> int:
    """A job whose updates keep the streams busy for a few seconds."""
    created = client.post("/api/jobs", json={"item_id": "chatty", "inputs": {"lines": 0, "progress_steps": 400}})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def new_user(admin: httpx.Client, name: str, role: str) -> None:
    created = admin.post("/api/admin/users", json={"username": name, "role": role, "password": PASSWORD})
    assert created.status_code == 201, created.text


def user_id(admin: httpx.Client, name: str) -> int:
    return int(next(u["id"] for u in admin.get("/api/admin/users", params={"q": name}).json() if u["username"] == name))


def test_stream_ends_when_its_token_is_revoked(
    server: PortalServer, tokens: dict[str, str], requester: httpx.Client
) -> None:
    with server.client(tokens["req1"]) as client:
        created = client.post("/api/auth/tokens", json={"name": "streaming"}).json()
    with ws(server, "/ws/jobs", created["secret"]) as conn:
        chatter(requester)
        collect(conn, lambda m: m.get("type") == "job.updated")  # updates are flowing
        with server.client(tokens["req1"]) as client:
            assert client.delete(f"/api/auth/tokens/{created['token']['id']}").status_code == 204
        assert closed_for_credentials(conn)


@pytest.mark.parametrize("change", ["logout", "password_reset", "disable", "role"])
def test_a_change_to_the_credentials_ends_the_users_streams(
    server: PortalServer, admin: httpx.Client, operator: httpx.Client, change: str
) -> None:
    name = f"stream-{change.replace('_', '-')}"
    new_user(admin, name, "operator")
    with server.session(name, PASSWORD) as browser:
        cookie = f"portal_session={browser.cookies['portal_session']}"
        token = browser.post("/api/auth/tokens", json={"name": "streaming"}).json()["secret"]
        with (
            ws(server, "/ws/jobs", Cookie=cookie, Origin=server.url) as by_session,
            ws(server, "/ws/jobs", token) as by_token,
        ):
            chatter(operator)
            for conn in (by_session, by_token):
                collect(conn, lambda m: m.get("type") == "job.updated")
            uid = user_id(admin, name)
            if change == "logout":
                assert browser.post("/api/auth/logout").status_code == 204
            elif change == "password_reset":
                assert admin.post(f"/api/admin/users/{uid}/reset-password", json={}).status_code == 200
            elif change == "disable":
                assert admin.patch(f"/api/admin/users/{uid}", json={"disabled": True}).status_code == 200
            else:
                assert admin.patch(f"/api/admin/users/{uid}", json={"role": "requester"}).status_code == 200
            assert closed_for_credentials(by_session)
            if change in ("disable", "role"):  # a token outlives a logout or a new password, not these
                assert closed_for_credentials(by_token)
            else:
                assert collect(by_token, lambda m: m.get("type") == "job.updated")


def test_a_stream_rechecks_its_credentials_on_a_timer_whatever_its_traffic(
    tmp_path: Path, fixture_catalog: Path
) -> None:
    """A change the portal is not told about (here a token revoked by another process, the command line) is
    noticed by the timer even on a stream that never goes idle."""
    portal = PortalServer(tmp_path / "portal", {"PORTAL_WS_RECHECK_SECONDS": "1"}).start()
    try:
        token = portal.token_for("admin")
        with portal.client(token) as admin:
            assert admin.post("/api/catalog/local/import", json={"path": str(fixture_catalog)}).status_code == 200
            streamed = admin.post("/api/auth/tokens", json={"name": "streaming"}).json()
            with ws(portal, "/ws/jobs", streamed["secret"]) as conn:
                chatter(admin)
                collect(conn, lambda m: m.get("type") == "job.updated")
                revoked = portal.cli("tokens", "revoke", str(streamed["token"]["id"]))
                assert revoked.returncode == 0, revoked.stderr
                assert closed_for_credentials(conn)
    finally:
        portal.stop()


def test_an_approvers_job_stream_ends_when_the_job_leaves_approval(
    server: PortalServer,
    tokens: dict[str, str],
    requester: httpx.Client,
    operator: httpx.Client,
    publisher: httpx.Client,
) -> None:
    """A named approver (a requester who may not otherwise see the job) sees it while it waits, and no more."""
    job_id = requester.post("/api/jobs", json={"item_id": "needs-two", "inputs": {"note": "x"}}).json()["id"]
    with ws(server, f"/ws/jobs/{job_id}", tokens["req2"]) as conn:
        assert operator.post(f"/api/jobs/{job_id}/approve", json={}).status_code == 200
        assert publisher.post(f"/api/jobs/{job_id}/approve", json={}).status_code == 200
        messages, code = read_until_closed(conn)
    assert code is not None  # closed by the server
    assert all(m.get("type") == "ping" or m["job"]["state"] == "PENDING_APPROVAL" for m in messages), messages
    wait_for_job(requester, job_id, {"SUCCEEDED"})
    with server.client(tokens["req2"]) as approver:
        assert approver.get(f"/api/jobs/{job_id}").status_code == 404
