"""WebSocket streams: authentication, visibility, each update once with an increasing rev, and live logs."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

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
        seen_by_operator = collect(operator, lambda m: False, timeout=0) + collect(
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


def test_stream_ends_when_its_token_is_revoked(server: PortalServer, tokens: dict[str, str]) -> None:
    with server.client(tokens["req1"]) as client:
        created = client.post("/api/auth/tokens", json={"name": "streaming"}).json()
    with ws(server, "/ws/jobs", created["secret"]) as conn:
        with server.client(tokens["req1"]) as client:
            assert client.delete(f"/api/auth/tokens/{created['token']['id']}").status_code == 204
        with pytest.raises(ConnectionClosed) as closed:
            collect(conn, lambda m: False, timeout=15)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
