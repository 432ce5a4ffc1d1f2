"""Launch-time validation against a real server (embedded and distributed): an item's `validate` runs in the job
sandbox before a job exists; what it refuses is a 422 on the field and no job; when it cannot run first, the job
validates in its run and a refusal ends it REJECTED (no traceback, no retry, not a failure in the statistics)."""

from __future__ import annotations

import httpx

from tests.helpers import PortalServer, wait_for_job

ENDED = {"SUCCEEDED", "FAILED", "REJECTED", "CANCELLED"}


def _total(client: httpx.Client, **params: str) -> int:
    response = client.get("/api/jobs", params=params)
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def test_a_refusal_is_a_422_on_the_field_and_no_job(requester: httpx.Client, admin: httpx.Client) -> None:
    before = _total(admin, item_id="validating")
    refused = requester.post("/api/jobs", json={"item_id": "validating", "inputs": {"name": "forbidden"}})
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["details"] == [{"field": "name", "message": "the name 'forbidden' is reserved"}]
    plain = requester.post("/api/jobs", json={"item_id": "validating", "inputs": {"name": "plain"}})
    assert plain.status_code == 422
    assert plain.json()["error"]["details"] == [{"field": "(root)", "message": "a plain ValueError names no field"}]
    assert _total(admin, item_id="validating") == before  # nothing was created

    accepted = requester.post("/api/jobs", json={"item_id": "validating", "inputs": {"name": "alice"}})
    assert accepted.status_code == 201, accepted.text
    job = wait_for_job(requester, int(accepted.json()["id"]), ENDED)
    assert job["state"] == "SUCCEEDED" and job["result"] == {"name": "ALICE"}  # the run's own validate cleaned it


def test_a_broken_validate_lets_the_job_fail_with_its_traceback(requester: httpx.Client) -> None:
    created = requester.post("/api/jobs", json={"item_id": "validating", "inputs": {"name": "broken"}})
    assert created.status_code == 201, created.text  # a bug in validate is the author's, not a refusal
    job = wait_for_job(requester, int(created.json()["id"]), ENDED)
    assert job["state"] == "FAILED" and job["error"]["type"] == "KeyError" and job["error"]["traceback"]


def test_when_validation_waits_for_the_run_a_refusal_ends_rejected(requester: httpx.Client) -> None:
    failed_before = _total(requester, item_id="late-validating", state="FAILED")
    # The item opts out of launch-time validation: the job is created, and its run refuses the inputs.
    created = requester.post("/api/jobs", json={"item_id": "late-validating", "inputs": {"name": "forbidden"}})
    assert created.status_code == 201, created.text
    job = wait_for_job(requester, int(created.json()["id"]), ENDED)
    assert job["state"] == "REJECTED"
    assert job["error"]["type"] == "Rejected" and job["error"]["field"] == "name"
    assert job["error"]["message"] == "the name 'forbidden' is reserved" and not job["error"]["traceback"]
    retry = requester.post(f"/api/jobs/{job['id']}/retry")
    assert retry.status_code == 409  # the same inputs would be refused again
    assert _total(requester, item_id="late-validating", state="FAILED") == failed_before
    assert _total(requester, item_id="late-validating", state="REJECTED") >= 1


def test_a_task_exception_named_rejected_is_a_failure(requester: httpx.Client) -> None:
    created = requester.post("/api/jobs", json={"item_id": "late-validating", "inputs": {"name": "own-rejected"}})
    job = wait_for_job(requester, int(created.json()["id"]), ENDED)
    assert job["state"] == "FAILED" and job["error"]["type"] == "Rejected" and job["error"]["traceback"]


def test_an_item_that_needs_approval_runs_no_code_before_it(requester: httpx.Client) -> None:
    created = requester.post("/api/jobs", json={"item_id": "approval-validating", "inputs": {"name": "forbidden"}})
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "PENDING_APPROVAL"
    assert requester.post(f"/api/jobs/{created.json()['id']}/cancel").status_code == 200


def test_a_validation_that_takes_too_long_leaves_it_to_the_run(requester: httpx.Client) -> None:
    # Its validate sleeps only at launch (PORTAL_JOB_ID 0): past PORTAL_JOB_VALIDATE_SECONDS the job is created.
    created = requester.post("/api/jobs", json={"item_id": "validating", "inputs": {"name": "slow"}})
    assert created.status_code == 201, created.text
    job = wait_for_job(requester, int(created.json()["id"]), ENDED)
    assert job["state"] == "REJECTED" and job["error"]["field"] == "name"


def test_a_schedule_with_refused_inputs_is_not_saved(admin: httpx.Client) -> None:
    body = {"name": "refused", "item_id": "validating", "inputs": {"name": "forbidden"}, "cron": "0 3 * * *"}
    response = admin.post("/api/admin/schedules", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"] == [
        {"field": "inputs.name", "message": "the name 'forbidden' is reserved"}
    ]
    assert all(s["name"] != "refused" for s in admin.get("/api/admin/schedules").json()["items"])


def test_launch_time_validation_is_contained_like_a_job(requester: httpx.Client, server: PortalServer) -> None:
    """Attack: a validate() that anyone allowed to launch can trigger tries to write into the portal's data
    directory and to reach the portal's own port. Both must fail."""
    target = server.data_dir / "written-by-validate"
    response = requester.post(
        "/api/jobs", json={"item_id": "escaping-validate", "inputs": {"path": str(target), "port": server.port}}
    )
    assert response.status_code == 422, response.text
    message = response.json()["error"]["details"][0]["message"]
    assert message.startswith("contained: write refused"), message
    assert "connect refused" in message
    assert not target.exists()
