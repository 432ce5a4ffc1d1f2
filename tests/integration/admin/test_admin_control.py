"""The admin control plane over the API: approvals, job control, bulk actions, rate limits, stats and system."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.helpers import PortalServer, wait_for_job, wait_until

STATES = ["PENDING_APPROVAL", "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]


def launch(client: httpx.Client, item_id: str, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post("/api/jobs", json={"item_id": item_id, "inputs": inputs or {}})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def audit_actions(admin: httpx.Client, job_id: object) -> list[str]:
    entries = admin.get("/api/admin/audit", params={"target_type": "job", "target_id": str(job_id)}).json()["items"]
    return [e["action"] for e in reversed(entries)]


def test_a_job_that_needs_approval_waits_and_an_approver_releases_it(
    requester: httpx.Client, operator: httpx.Client, viewer: httpx.Client, admin: httpx.Client
) -> None:
    job = launch(requester, "needs-approval", {"note": "please"})
    assert job["state"] == "PENDING_APPROVAL"
    job_id = job["id"]
    detail = requester.get(f"/api/jobs/{job_id}").json()
    assert detail["approval"]["approvers"] == {"role": "operator"} and detail["approval"]["count"] == 1
    assert detail["approval"]["deadline"] is not None

    waiting = [j["id"] for j in operator.get("/api/jobs/approvals").json()]
    assert job_id in waiting
    assert requester.get("/api/jobs/approvals").json() == []
    assert requester.post(f"/api/jobs/{job_id}/approve", json={}).status_code == 403
    assert viewer.post(f"/api/jobs/{job_id}/approve", json={}).status_code == 404  # may not even see it

    approved = operator.post(f"/api/jobs/{job_id}/approve", json={"comment": "looks fine"})
    assert approved.status_code == 200, approved.text
    done = wait_for_job(requester, job_id, {"SUCCEEDED", "FAILED"})
    assert done["state"] == "SUCCEEDED" and done["result"] == {"ran": True, "note": "please"}
    assert [d["username"] for d in done["approval"]["decisions"]] == ["op1"]
    kinds = [(e["kind"], e["message"]) for e in done["events"]]
    assert ("approval", "approved by op1: looks fine") in kinds
    assert any(e["from_state"] == "PENDING_APPROVAL" and e["to_state"] == "QUEUED" for e in done["events"])
    assert operator.post(f"/api/jobs/{job_id}/approve", json={}).json()["error"]["details"]["state"] == "SUCCEEDED"
    assert "job.approve" in audit_actions(admin, job_id)


def test_nobody_approves_their_own_job(operator: httpx.Client, fixture_catalog: object) -> None:
    job = launch(operator, "needs-approval")
    refused = operator.post(f"/api/jobs/{job['id']}/approve", json={})
    assert refused.status_code == 403 and "own job" in refused.json()["error"]["message"]
    assert job["id"] not in [j["id"] for j in operator.get("/api/jobs/approvals").json()]
    operator.post(f"/api/jobs/{job['id']}/cancel")


def test_two_named_approvers_are_needed(
    requester: httpx.Client,
    operator: httpx.Client,
    other_requester: httpx.Client,
    viewer: httpx.Client,
    admin: httpx.Client,
) -> None:
    job_id = launch(requester, "needs-two")["id"]
    assert viewer.post(f"/api/jobs/{job_id}/approve", json={}).status_code == 404  # neither named nor allowed
    assert admin.post(f"/api/jobs/{job_id}/approve", json={}).status_code == 403  # an admin, but not named
    # req2, a requester named by the item, may read the job it decides on (not other people's jobs)
    assert other_requester.get(f"/api/jobs/{job_id}").status_code == 200
    assert job_id in [j["id"] for j in other_requester.get("/api/jobs/approvals").json()]
    first = operator.post(f"/api/jobs/{job_id}/approve", json={})
    assert first.status_code == 200 and first.json()["state"] == "PENDING_APPROVAL"
    assert "1 of 2" in first.json()["message"]
    again = operator.post(f"/api/jobs/{job_id}/approve", json={})
    assert again.status_code == 409
    second = other_requester.post(f"/api/jobs/{job_id}/approve", json={"comment": "ok"})
    assert second.status_code == 200 and second.json()["state"] == "QUEUED"
    assert wait_for_job(requester, job_id, {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"
    assert other_requester.get(f"/api/jobs/{job_id}").status_code == 404  # no longer waiting for them


def test_a_rejection_cancels_the_job_with_its_reason(
    requester: httpx.Client, operator: httpx.Client, admin: httpx.Client
) -> None:
    job_id = launch(requester, "needs-approval")["id"]
    rejected = operator.post(f"/api/jobs/{job_id}/reject", json={"comment": "not during the freeze"})
    assert rejected.status_code == 200 and rejected.json()["state"] == "CANCELLED"
    detail = requester.get(f"/api/jobs/{job_id}").json()
    assert detail["error"]["type"] == "Rejected"
    assert detail["error"]["message"] == "rejected by op1: not during the freeze"
    assert operator.post(f"/api/jobs/{job_id}/approve", json={}).status_code == 409
    assert requester.post(f"/api/jobs/{job_id}/reject", json={}).status_code in (403, 409)
    assert "job.reject" in audit_actions(admin, job_id)


def test_the_requester_cannot_reject_their_own_job_and_a_publisher_cannot_force_it(
    requester: httpx.Client, operator: httpx.Client, publisher: httpx.Client
) -> None:
    job_id = launch(operator, "needs-approval")["id"]
    assert operator.post(f"/api/jobs/{job_id}/reject", json={}).status_code == 403
    assert publisher.post(f"/api/admin/jobs/{job_id}/run").status_code == 403
    assert requester.post(f"/api/jobs/{job_id}/reject", json={}).status_code == 404
    assert operator.get(f"/api/jobs/{job_id}").json()["state"] == "PENDING_APPROVAL"
    operator.post(f"/api/jobs/{job_id}/cancel")


def test_an_approval_that_times_out_cancels_the_job(requester: httpx.Client, admin: httpx.Client) -> None:
    job_id = launch(requester, "quick-approval")["id"]
    done = wait_for_job(requester, job_id, {"CANCELLED"}, timeout=15)
    assert done["error"]["type"] == "ApprovalTimeout"
    assert "job.approval_timeout" in audit_actions(admin, job_id)


def test_force_run_starts_a_pending_job_for_admins_only(
    requester: httpx.Client, operator: httpx.Client, admin: httpx.Client
) -> None:
    job_id = launch(requester, "needs-approval")["id"]
    refused = operator.post(f"/api/admin/jobs/{job_id}/run")
    assert refused.status_code == 403
    forced = admin.post(f"/api/admin/jobs/{job_id}/run")
    assert forced.status_code == 200, forced.text
    done = wait_for_job(requester, job_id, {"SUCCEEDED", "FAILED"})
    assert done["state"] == "SUCCEEDED"
    assert any(e["message"] == "started by admin admin without approval" for e in done["events"])
    assert "job.force_run" in audit_actions(admin, job_id)
    finished = admin.post(f"/api/admin/jobs/{job_id}/run")
    assert finished.status_code == 409 and finished.json()["error"]["details"]["state"] == "SUCCEEDED"


def test_force_run_moves_a_queued_job_to_the_front(requester: httpx.Client, operator: httpx.Client) -> None:
    blockers = [launch(requester, "sleeper", {"seconds": 60})["id"] for _ in range(2)]  # both worker slots
    for blocker in blockers:
        wait_for_job(requester, blocker, {"RUNNING"})
    queued = [launch(requester, "noop")["id"] for _ in range(3)]
    moved = operator.post(f"/api/admin/jobs/{queued[-1]}/run")
    assert moved.status_code == 200 and moved.json()["priority"] > 0
    for blocker in blockers:
        operator.post(f"/api/admin/jobs/{blocker}/cancel")
    started = {j: wait_for_job(requester, j, {"SUCCEEDED"})["started_at"] for j in queued}
    assert started[queued[-1]] < started[queued[0]] < started[queued[1]]


def test_operators_retry_and_cancel_any_job_and_states_are_checked(
    requester: httpx.Client, operator: httpx.Client, admin: httpx.Client, viewer: httpx.Client
) -> None:
    failed = launch(requester, "failing-task")["id"]
    wait_for_job(requester, failed, {"FAILED"})
    for client in (requester, viewer):
        assert client.post(f"/api/admin/jobs/{failed}/retry").status_code == 403
        assert client.post(f"/api/admin/jobs/{failed}/cancel").status_code == 403
        assert client.post("/api/admin/jobs/bulk", json={"action": "cancel", "ids": [failed]}).status_code == 403
    bad = operator.post(f"/api/admin/jobs/{failed}/retry", json={"inputs": {"fail": "yes"}})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "fail"
    retried = operator.post(f"/api/admin/jobs/{failed}/retry", json={"inputs": {"fail": False}})
    assert retried.status_code == 201, retried.text
    new_id = retried.json()["id"]
    assert retried.json()["retry_of"] == failed and retried.json()["created_by_name"] == "op1"
    assert wait_for_job(operator, new_id, {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"
    again = operator.post(f"/api/admin/jobs/{new_id}/retry")
    assert again.status_code == 409 and again.json()["error"]["details"]["state"] == "SUCCEEDED"
    cancel_done = operator.post(f"/api/admin/jobs/{new_id}/cancel")
    assert cancel_done.status_code == 409 and cancel_done.json()["error"]["details"]["state"] == "SUCCEEDED"
    assert admin.post("/api/admin/jobs/999999/cancel").status_code == 404
    entry = admin.get("/api/admin/audit", params={"target_id": str(failed), "action": "job.retry"}).json()["items"][0]
    assert entry["actor_name"] == "op1" and entry["details"] == {"new_job_id": new_id, "edited_inputs": True}


def test_bulk_actions_report_each_job_and_are_limited(requester: httpx.Client, operator: httpx.Client) -> None:
    pending = [launch(requester, "needs-approval")["id"] for _ in range(3)]
    done = launch(requester, "noop")["id"]
    wait_for_job(requester, done, {"SUCCEEDED"})
    response = operator.post("/api/admin/jobs/bulk", json={"action": "cancel", "ids": [*pending, done, 999999]})
    assert response.status_code == 200, response.text
    body = response.json()
    results = {r["id"]: r for r in body["results"]}
    assert all(results[j]["ok"] and results[j]["state"] == "CANCELLED" for j in pending)
    assert results[done] == {
        "id": done,
        "ok": False,
        "state": "SUCCEEDED",
        "new_job_id": None,
        "error": "conflict",
        "message": f"job {done} is SUCCEEDED and cannot be cancelled",
    }
    assert results[999999]["error"] == "not_found"
    assert (body["succeeded"], body["failed"]) == (3, 2)

    more = [launch(requester, "needs-approval")["id"] for _ in range(2)]
    by_filter = operator.post(
        "/api/admin/jobs/bulk",
        json={"action": "cancel", "filter": {"item_id": "needs-approval", "state": ["PENDING_APPROVAL"]}},
    ).json()
    assert sorted(r["id"] for r in by_filter["results"]) == more and by_filter["failed"] == 0

    too_many = operator.post("/api/admin/jobs/bulk", json={"action": "cancel", "ids": list(range(1, 300))})
    assert too_many.status_code == 422 and too_many.json()["error"]["details"][0]["field"] == "ids"
    neither = operator.post("/api/admin/jobs/bulk", json={"action": "cancel"})
    assert neither.status_code == 422
    unknown = operator.post("/api/admin/jobs/bulk", json={"action": "explode", "ids": [1]})
    assert unknown.status_code == 422


@pytest.fixture
def busy_operator(server: PortalServer, admin: httpx.Client) -> Iterator[httpx.Client]:
    """An operator of its own, so using up its rate limit does not slow the other tests."""
    created = admin.post("/api/admin/users", json={"username": "busy-op", "role": "operator", "password": PASSWORD})
    assert created.status_code == 201, created.text
    with server.session("busy-op", PASSWORD) as client:
        yield client


def test_job_control_is_rate_limited_per_user(busy_operator: httpx.Client, operator: httpx.Client) -> None:
    statuses = [busy_operator.post("/api/admin/jobs/999999/cancel").status_code for _ in range(121)]
    assert statuses[:120] == [404] * 120
    assert statuses[120] == 429
    limited = busy_operator.post("/api/admin/jobs/999999/cancel")
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert operator.post("/api/admin/jobs/999999/cancel").status_code == 404  # other users are not affected
    bulk = [
        busy_operator.post("/api/admin/jobs/bulk", json={"action": "cancel", "ids": [999999]}).status_code
        for _ in range(11)
    ]
    assert bulk == [200] * 10 + [429]


ADMIN_ENDPOINTS = [
    ("POST", "/api/admin/jobs/1/retry", "operator"),
    ("POST", "/api/admin/jobs/1/cancel", "operator"),
    ("POST", "/api/admin/jobs/1/run", "operator"),
    ("POST", "/api/admin/jobs/bulk", "operator"),
    ("GET", "/api/admin/stats", "operator"),
    ("GET", "/api/admin/system", "admin"),
    ("GET", "/api/admin/secrets", "admin"),
    ("POST", "/api/admin/secrets", "admin"),
    ("PATCH", "/api/admin/secrets/X", "admin"),
    ("DELETE", "/api/admin/secrets/X", "admin"),
    ("GET", "/api/admin/audit", "admin"),
    ("GET", "/api/admin/audit/export", "admin"),
    ("GET", "/api/admin/users", "admin"),
    ("GET", "/api/admin/tokens", "admin"),
]
BELOW = {"operator": ["viewer1", "req1"], "admin": ["viewer1", "req1", "op1", "pub1"]}


@pytest.mark.parametrize(("method", "path", "needs"), ADMIN_ENDPOINTS)
def test_every_admin_endpoint_refuses_each_role_below_the_one_it_needs(
    server: PortalServer, tokens: dict[str, str], method: str, path: str, needs: str
) -> None:
    for user in BELOW[needs]:
        with server.client(tokens[user]) as client:
            response = client.request(method, path, json={"action": "cancel", "ids": [1]})
            assert response.status_code == 403, (user, response.text)


def test_stats_come_from_counters_that_match_the_jobs(
    requester: httpx.Client, operator: httpx.Client, admin: httpx.Client
) -> None:
    wait_for_job(requester, launch(requester, "failing-task")["id"], {"FAILED"})
    assert requester.get("/api/admin/stats").status_code == 403
    stats = operator.get("/api/admin/stats").json()
    for state in STATES:
        total = admin.get("/api/jobs", params={"state": state, "page_size": 1}).json()["total"]
        assert stats["by_state"].get(state, 0) == total, state
    assert len(stats["jobs_per_hour"]) == 24
    assert stats["last_24h"]["failed"] >= 1 and 0 < stats["last_24h"]["failure_rate"] <= 1
    assert any(item["item_id"] == "failing-task" for item in stats["failing_items"])
    assert stats["slowest_items"] and stats["slowest_items"][0]["avg_ms"] >= stats["slowest_items"][-1]["avg_ms"]
    (worker,) = [w for w in stats["workers"] if w["alive"]]
    assert worker["kind"] == "embedded" and worker["slots"] == 2
    codes = {a["code"] for a in stats["alerts"]}
    assert "worker_lost" not in codes


def test_system_status_for_admins(admin: httpx.Client, operator: httpx.Client) -> None:
    assert operator.get("/api/admin/system").status_code == 403
    status = admin.get("/api/admin/system").json()
    assert status["database"]["dialect"] == "sqlite" and status["database"]["size_bytes"] > 0
    assert status["storage"]["bundles"] > 0 and status["storage"]["bundle_bytes"] > 0
    assert status["process"]["rss_bytes"] > 0 and status["uptime_seconds"] > 0
    assert status["http"]["requests_per_second"] > 0
    pool = status["database"]["pool"]  # true figures: nothing negative while the pool is not yet full
    assert 1 <= pool["open"] <= pool["size"] + pool["overflow"] and pool["overflow"] >= 0
    assert 0 <= pool["checked_out"] <= pool["open"]


def test_metrics_in_prometheus_text(server: PortalServer, admin: httpx.Client) -> None:
    admin.get("/api/jobs")
    text = httpx.get(f"{server.url}/metrics").text
    assert 'portal_jobs{item_id="noop",state="SUCCEEDED"}' in text
    assert 'portal_http_request_duration_seconds_count{method="GET",route="/api/jobs",status="200"}' in text
    assert "portal_job_duration_seconds_bucket" in text
    assert "portal_websocket_clients" in text


def test_metrics_token_and_json_logs(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = PortalServer(
        tmp_path_factory.mktemp("portal-json"),
        env={"PORTAL_METRICS_TOKEN": "scrape-me", "PORTAL_LOG_FORMAT": "json", "PORTAL_WORKER_SLOTS": "0"},
    ).start()
    try:
        assert httpx.get(f"{server.url}/metrics").status_code == 401
        assert httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        good = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert good.status_code == 200 and "portal_jobs" in good.text
        httpx.get(f"{server.url}/api/jobs", headers={"X-Request-ID": "trace-me-42"})
        import json

        def access_record() -> dict[str, object] | None:
            for line in server.log().splitlines():
                if line.startswith("{"):
                    record = json.loads(line)
                    if record.get("request_id") == "trace-me-42" and record.get("logger") == "portal.access":
                        return dict(record)
            return None

        assert wait_until(lambda: access_record() is not None)
        record = access_record()
        assert record is not None and record["status"] == 401 and record["route"] == "/api/jobs"
    finally:
        server.stop()


def test_api_docs_are_for_admins_and_name_each_admin_endpoint_role(
    server: PortalServer, admin: httpx.Client, operator: httpx.Client
) -> None:
    for path in ("/api/openapi.json", "/api/docs"):
        assert operator.get(path).status_code == 403
        assert admin.get(path).status_code == 200
    # Swagger UI from the portal itself, under a policy that allows no other origin and no inline script.
    docs = admin.get("/api/docs")
    policy = docs.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "http" not in docs.text and "cdn" not in docs.text.lower()
    document = admin.get("/api/openapi.json").json()
    admin_operations = [
        (method, path, op)
        for path, ops in document["paths"].items()
        if path.startswith("/api/admin")
        for method, op in ops.items()
    ]
    assert len(admin_operations) >= 15
    for method, path, op in admin_operations:
        assert "Role:" in op.get("description", ""), f"{method} {path} does not say which role it needs"
    bulk = document["paths"]["/api/admin/jobs/bulk"]["post"]
    assert bulk["requestBody"]["content"]["application/json"]["examples"]
    assert "429" in bulk["responses"]
    # Both ways in are security schemes (Swagger UI's Authorize button), named by every operation that needs one.
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiToken"] == {**schemes["apiToken"], "type": "http", "scheme": "bearer"}
    assert schemes["browserSession"] == {**schemes["browserSession"], "type": "apiKey", "in": "cookie"}
    secured = {path for path, ops in document["paths"].items() for op in ops.values() if "security" in op}
    assert {"/api/jobs", "/api/admin/jobs/bulk", "/api/catalog"} <= secured
    assert "/api/auth/login" not in secured


def test_recount_rebuilds_the_same_counters(server: PortalServer, operator: httpx.Client) -> None:
    before = operator.get("/api/admin/stats").json()
    result = server.cli("admin", "recount")
    assert result.returncode == 0, result.stderr
    after = operator.get("/api/admin/stats").json()
    assert after["by_state"] == before["by_state"]
    assert after["jobs_per_hour"] == before["jobs_per_hour"]
    assert after["failing_items"] == before["failing_items"]
