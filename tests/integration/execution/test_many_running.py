"""More jobs running at once than a job may open files: each new job's child starts holding what its zygote holds
(a descriptor for every running job) until it closes them, so its own open-files limit must come after that.
With the limit set first, the jobs past the limit failed with "landlock_create_ruleset: Too many open files"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import PortalServer, wait_for_job

JOBS = 40


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    env = {"PORTAL_WORKER_SLOTS": str(JOBS), "PORTAL_JOB_OPEN_FILES": "24", "PORTAL_JOB_SUBMIT_RATE_PER_MINUTE": "1000"}
    server = PortalServer(tmp_path_factory.mktemp("many"), env).start()
    try:
        yield server
    finally:
        server.stop()


def test_more_jobs_run_at_once_than_a_job_may_open_files(portal: PortalServer) -> None:
    with portal.client(portal.token_for("admin")) as admin:
        assert admin.post("/api/catalog/local/import", json={"path": "items/sleeper"}).status_code == 200
        ids = []
        for _ in range(JOBS):
            created = admin.post("/api/jobs", json={"item_id": "sleeper", "inputs": {"seconds": 4}})
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])

        for job_id in ids:
            job = wait_for_job(admin, job_id, {"SUCCEEDED", "FAILED"}, timeout=60)
            assert job["state"] == "SUCCEEDED", job["error"]
