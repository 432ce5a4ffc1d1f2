"""The job lifecycle against a real server: launch, validation, listing, retry, cancel, failures, visibility."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.helpers import PortalServer, process_alive, sleeper_pids, wait_for_job, wait_until

BACKUP_INPUTS = {
    "devices": ["router-1", "switch-2"],
    "bucket": "my-backup-bucket",
    "encryption": True,
    "schedule": "daily",
}


def launch(
    client: httpx.Client, item_id: str, inputs: dict[str, object] | None = None, version: str | None = None
) -> dict[str, object]:
    body: dict[str, object] = {"item_id": item_id, "inputs": inputs or {}}
    if version:
        body["version"] = version
    response = client.post("/api/jobs", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_backup_config_runs_to_success_with_timeline(requester: httpx.Client) -> None:
    created = launch(requester, "backup-config", BACKUP_INPUTS, "2.0.0")
    assert created["state"] == "QUEUED" and created["job_id"] == created["id"]
    job = wait_for_job(requester, int(str(created["id"])), {"SUCCEEDED", "FAILED"})
    assert job["state"] == "SUCCEEDED", job["error"]
    assert job["progress"] == 100
    assert job["result"]["bucket"] == "my-backup-bucket"
    assert job["started_at"] and job["finished_at"] and job["worker"]
    transitions = [(e["from_state"], e["to_state"]) for e in job["events"] if e["kind"] == "state"]
    assert transitions == [(None, "QUEUED"), ("QUEUED", "RUNNING"), ("RUNNING", "SUCCEEDED")]
    assert any(e["kind"] == "progress" for e in job["events"])
    logs = requester.get(f"/api/jobs/{job['id']}/logs").json()["items"]
    assert any("router-1" in line["line"] for line in logs)


def test_original_request_shape_is_accepted(requester: httpx.Client) -> None:
    response = requester.post(
        "/api/jobs",
        json={
            "report_type": "catalog",
            "parameters": {"item_id": "backup-config", "version": "2.0.0", "inputs": BACKUP_INPUTS},
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["item_version"] == "2.0.0"
    other = requester.post("/api/jobs", json={"report_type": "sales_report", "parameters": {}})
    assert other.status_code == 422


def test_latest_version_is_the_highest_semver(requester: httpx.Client) -> None:
    assert launch(requester, "backup-config", BACKUP_INPUTS)["item_version"] == "2.0.0"


def test_inputs_that_break_the_schema_get_422_with_every_field(requester: httpx.Client, admin: httpx.Client) -> None:
    before = admin.get("/api/jobs", params={"page_size": 1}).json()["total"]
    response = requester.post(
        "/api/jobs",
        json={
            "item_id": "backup-config",
            "version": "2.0.0",
            "inputs": {"devices": [], "bucket": "Not A Bucket!", "schedule": "hourly", "retention_days": 0},
        },
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    fields = {d["field"] for d in error["details"]}
    assert {"devices", "bucket", "schedule", "retention_days"} <= fields
    assert admin.get("/api/jobs", params={"page_size": 1}).json()["total"] == before


def test_unknown_item_and_version_get_404(requester: httpx.Client) -> None:
    unknown_item = requester.post("/api/jobs", json={"item_id": "no-such-item", "inputs": {}})
    assert unknown_item.status_code == 404 and unknown_item.json()["error"]["details"] == {"field": "item_id"}
    unknown_version = requester.post("/api/jobs", json={"item_id": "noop", "version": "9.9.9", "inputs": {}})
    assert unknown_version.status_code == 404 and unknown_version.json()["error"]["details"] == {"field": "version"}


def test_malformed_and_oversized_bodies(server: PortalServer, requester: httpx.Client) -> None:
    malformed = requester.post(
        "/api/jobs", content=b'{"item_id": "noop", ', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_json"
    huge = {"item_id": "noop", "inputs": {"blob": "x" * 2_000_000}}
    oversized = requester.post("/api/jobs", json=huge)
    assert oversized.status_code == 413 and oversized.json()["error"]["code"] == "payload_too_large"

    def chunks() -> object:
        yield b'{"item_id": "noop", "inputs": {"blob": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}}'

    streamed = requester.post("/api/jobs", content=chunks(), headers={"content-type": "application/json"})  # type: ignore[arg-type]
    assert streamed.status_code == 413
    wrong_type = requester.post("/api/jobs", json={"item_id": "noop", "inputs": "not an object"})
    assert wrong_type.status_code == 422 and wrong_type.json()["error"]["details"][0]["field"] == "inputs"
    assert server.proc is not None and server.proc.poll() is None


def test_failures_end_failed_and_the_worker_survives(requester: httpx.Client) -> None:
    expected = {
        "broken-import": "SyntaxError",
        "garbage-writer": "ProtocolError",
        "bad-result": "TypeError",
        "silent-exit": "ProcessExited",
        "timeout-task": "Timeout",
        "failing-task": "RuntimeError",
    }
    ids = {
        item: int(str(launch(requester, item, {"message": "boom"} if item == "failing-task" else {})["id"]))
        for item in expected
    }
    for item, error_type in expected.items():
        job = wait_for_job(requester, ids[item], {"SUCCEEDED", "FAILED"})
        assert job["state"] == "FAILED", item
        assert job["error"]["type"] == error_type, (item, job["error"])
        assert job["error_type"] == error_type
    after = wait_for_job(requester, int(str(launch(requester, "noop")["id"])), {"SUCCEEDED", "FAILED"})
    assert after["state"] == "SUCCEEDED"


def test_retry_creates_a_linked_job_and_keeps_history(requester: httpx.Client) -> None:
    failed = wait_for_job(
        requester, int(str(launch(requester, "failing-task", {"message": "first"})["id"])), {"FAILED"}
    )
    retry = requester.post(f"/api/jobs/{failed['id']}/retry")
    assert retry.status_code == 201
    new = retry.json()
    assert new["retry_of"] == failed["id"] and new["attempt"] == 2 and new["id"] != failed["id"]
    new_job = wait_for_job(requester, new["id"], {"FAILED"})
    assert new_job["item_version"] == failed["item_version"]
    original = requester.get(f"/api/jobs/{failed['id']}").json()
    assert original["state"] == "FAILED" and original["retries"] == [new["id"]]
    assert original["retried_as"] == new["id"]
    listed = requester.get("/api/jobs", params={"item_id": "failing-task", "page_size": 200}).json()["items"]
    rows = {job["id"]: job for job in listed}
    assert rows[failed["id"]]["retried_as"] == new["id"] and rows[new["id"]]["retried_as"] is None
    assert original["error"]["message"] == "first"


def test_retry_of_running_job_is_409(requester: httpx.Client, tmp_path: Path) -> None:
    job = launch(requester, "sleeper", {"seconds": 30})
    wait_for_job(requester, int(str(job["id"])), {"RUNNING"})
    conflict = requester.post(f"/api/jobs/{job['id']}/retry")
    assert conflict.status_code == 409 and conflict.json()["error"]["details"] == {"state": "RUNNING"}
    assert requester.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    wait_for_job(requester, int(str(job["id"])), {"CANCELLED"})


def test_cancel_running_kills_the_process_group(requester: httpx.Client, tmp_path: Path) -> None:
    job = launch(requester, "sleeper")
    job_id = int(str(job["id"]))
    child, grandchild = sleeper_pids(requester, job_id)
    assert process_alive(child) and process_alive(grandchild)
    response = requester.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 200 and response.json()["cancel_requested"] is True
    cancelled = wait_for_job(requester, job_id, {"CANCELLED", "FAILED", "SUCCEEDED"})
    assert cancelled["state"] == "CANCELLED"
    assert wait_until(lambda: not process_alive(child) and not process_alive(grandchild))
    assert [e["to_state"] for e in cancelled["events"] if e["kind"] == "state"][-1] == "CANCELLED"
    again = requester.post(f"/api/jobs/{job_id}/cancel")
    assert again.status_code == 409 and again.json()["error"]["details"] == {"state": "CANCELLED"}


def test_cancel_queued_is_immediate(server: PortalServer, requester: httpx.Client) -> None:
    # Fill both slots so the next job stays queued.
    blockers = [launch(requester, "sleeper", {"seconds": 30}) for _ in range(2)]
    for blocker in blockers:
        wait_for_job(requester, int(str(blocker["id"])), {"RUNNING"})
    queued = launch(requester, "noop")
    response = requester.post(f"/api/jobs/{queued['id']}/cancel")
    assert response.status_code == 200 and response.json()["state"] == "CANCELLED"
    for blocker in blockers:
        requester.post(f"/api/jobs/{blocker['id']}/cancel")
    for blocker in blockers:
        wait_for_job(requester, int(str(blocker["id"])), {"CANCELLED"})
    assert requester.get(f"/api/jobs/{queued['id']}").json()["started_at"] is None


def test_requesters_see_only_their_own_jobs(
    requester: httpx.Client, other_requester: httpx.Client, operator: httpx.Client
) -> None:
    mine = launch(requester, "noop")
    theirs = other_requester.get(f"/api/jobs/{mine['id']}")
    assert theirs.status_code == 404
    assert other_requester.post(f"/api/jobs/{mine['id']}/cancel").status_code == 404
    assert other_requester.post(f"/api/jobs/{mine['id']}/retry").status_code == 404
    listed = other_requester.get("/api/jobs", params={"page_size": 200}).json()["items"]
    assert all(job["created_by_name"] == "req2" for job in listed)
    assert operator.get(f"/api/jobs/{mine['id']}").status_code == 200
    assert operator.get("/api/jobs", params={"q": "req1"}).json()["total"] >= 1


def test_listing_filters_and_searches_before_paging(admin: httpx.Client, other_requester: httpx.Client) -> None:
    ids = [int(str(launch(other_requester, "system-health-check", {"services": ["api"]})["id"])) for _ in range(3)]
    for job_id in ids:
        wait_for_job(other_requester, job_id, {"SUCCEEDED"})
    page = admin.get(
        "/api/jobs", params={"item_id": "system-health-check", "q": "req2", "page_size": 2, "state": "SUCCEEDED"}
    ).json()
    assert page["total"] >= 3 and len(page["items"]) == 2
    assert all(j["item_id"] == "system-health-check" and j["created_by_name"] == "req2" for j in page["items"])
    second = admin.get(
        "/api/jobs",
        params={"item_id": "system-health-check", "q": "req2", "page_size": 2, "page": 2, "state": "SUCCEEDED"},
    ).json()
    assert {j["id"] for j in second["items"]}.isdisjoint({j["id"] for j in page["items"]})
    by_id = admin.get("/api/jobs", params={"q": str(ids[0])}).json()
    assert ids[0] in [j["id"] for j in by_id["items"]]
    by_item_name = admin.get("/api/jobs", params={"q": "health", "page_size": 200}).json()
    assert set(ids) <= {j["id"] for j in by_item_name["items"]}
    ascending = admin.get("/api/jobs", params={"sort": "id", "page_size": 5}).json()["items"]
    assert [j["id"] for j in ascending] == sorted(j["id"] for j in ascending)
    several = admin.get("/api/jobs", params={"state": "failed,cancelled", "page_size": 200}).json()["items"]
    assert {j["state"] for j in several} <= {"FAILED", "CANCELLED"}
    assert admin.get("/api/jobs", params={"q": "zzz-no-match"}).json() == {
        "items": [],
        "total": 0,
        "page": 1,
        "page_size": 50,
    }
    bad = admin.get("/api/jobs", params={"state": "SLEEPING"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "state"
    assert admin.get("/api/jobs", params={"sort": "password"}).status_code == 422
    assert admin.get("/api/jobs", params={"page_size": 100000}).status_code == 422


def test_job_actions_are_audited(admin: httpx.Client, requester: httpx.Client) -> None:
    job = launch(requester, "failing-task", {"message": "audit me"})
    wait_for_job(requester, int(str(job["id"])), {"FAILED"})
    retry = requester.post(f"/api/jobs/{job['id']}/retry").json()
    requester.post(f"/api/jobs/{retry['id']}/cancel")
    entries = admin.get("/api/admin/audit", params={"target_type": "job", "limit": 1000}).json()["items"]
    by_action = {(e["action"], e["target_id"]) for e in entries}
    assert ("job.create", str(job["id"])) in by_action
    assert ("job.retry", str(job["id"])) in by_action
    create = next(e for e in entries if e["action"] == "job.create" and e["target_id"] == str(job["id"]))
    assert create["actor_name"] == "req1" and create["details"]["item_id"] == "failing-task"


def test_request_id_is_echoed_in_errors_and_audit(admin: httpx.Client, requester: httpx.Client) -> None:
    response = requester.post(
        "/api/jobs", json={"item_id": "noop", "inputs": {}}, headers={"X-Request-ID": "trace-me-123"}
    )
    assert response.headers["x-request-id"] == "trace-me-123"
    entries = admin.get("/api/admin/audit", params={"request_id": "trace-me-123"}).json()["items"]
    assert [e["action"] for e in entries] == ["job.create"]
    error = requester.get("/api/jobs/999999999", headers={"X-Request-ID": "trace-404"})
    assert error.status_code == 404 and error.json()["error"]["request_id"] == "trace-404"


def test_git_import_takes_the_original_portals_body(admin: httpx.Client) -> None:
    """`{repo_url, item_name, version}` is read as `item_id` (nothing answers at that address: the job fails)."""
    body = {"repo_url": "https://127.0.0.1:1/ops/catalog.git", "item_name": "legacy-named", "version": "1.0.0"}
    created = admin.post("/api/catalog/git/import", json=body)
    assert created.status_code == 202, created.text
    both = admin.post("/api/catalog/git/import", json={**body, "item_id": "other"})
    assert both.status_code == 422 and "not both" in both.text
    job = wait_for_job(admin, created.json()["id"], {"SUCCEEDED", "FAILED"})
    assert job["inputs"]["item_id"] == "legacy-named" and "item_name" not in job["inputs"]


def test_dev_seed_creates_five_jobs(admin: httpx.Client, requester: httpx.Client) -> None:
    assert requester.post("/api/dev/seed").status_code == 403
    seeded = admin.post("/api/dev/seed")
    assert seeded.status_code == 201 and len(seeded.json()) == 5


def test_jobs_filter_by_kind(admin: httpx.Client) -> None:
    task = launch(admin, "noop")
    dry = admin.post("/api/admin/catalog/items/noop/versions/1.0.0/dry-run", json={"inputs": {}})
    assert dry.status_code == 201, dry.text
    for job_id in (int(str(task["id"])), dry.json()["id"]):
        wait_for_job(admin, job_id, {"SUCCEEDED", "FAILED"})

    def ids(kind: str) -> set[int]:
        body = admin.get("/api/jobs", params={"kind": kind, "page_size": 200}).json()
        assert {job["kind"] for job in body["items"]} <= set(kind.split(","))
        return {job["id"] for job in body["items"]}

    assert task["id"] in ids("catalog_execution") and dry.json()["id"] not in ids("catalog_execution")
    assert dry.json()["id"] in ids("catalog_dry_run") and task["id"] not in ids("catalog_dry_run")
    assert {task["id"], dry.json()["id"]} <= ids("catalog_execution,catalog_dry_run")
    dry_runs = admin.get("/api/jobs", params={"kind": "catalog_dry_run", "page_size": 200}).json()
    assert dry_runs["total"] == len(dry_runs["items"]) >= 1
    refused = admin.get("/api/jobs", params={"kind": "catalog_execution,report"})
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["field"] == "kind"
    assert "report" in refused.json()["error"]["details"][0]["message"]


def test_delete_on_the_admin_job_cancels_it(admin: httpx.Client, operator: httpx.Client) -> None:
    job = launch(admin, "sleeper", {"seconds": 30})
    wait_for_job(admin, int(str(job["id"])), {"RUNNING"})
    deleted = operator.delete(f"/api/admin/jobs/{job['id']}")
    assert deleted.status_code == 200, deleted.text
    assert wait_for_job(admin, int(str(job["id"])), {"CANCELLED"})["state"] == "CANCELLED"
    again = operator.delete(f"/api/admin/jobs/{job['id']}")
    assert again.status_code == 409 and again.json()["error"]["details"] == {"state": "CANCELLED"}
    assert admin.get(f"/api/jobs/{job['id']}").status_code == 200  # cancelled, not erased


def test_dev_endpoints_are_not_found_outside_dev_mode(tmp_path: Path) -> None:
    server = PortalServer(tmp_path / "data", env={"PORTAL_DEV": "0"}).start()
    try:
        with server.client(server.token_for("admin")) as admin:
            seed = admin.post("/api/dev/seed")
            assert seed.status_code == 404 and seed.json()["error"]["code"] == "not_found"
            assert "/api/dev/seed" not in admin.get("/api/openapi.json").json()["paths"]
            assert admin.get("/api/jobs").json()["total"] == 0
    finally:
        server.stop()
