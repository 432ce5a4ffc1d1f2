"""A portal killed mid-job: its children die with it, and on restart the interrupted job is failed, queued ones run."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.helpers import FIXTURE_CATALOG, PortalServer, process_alive, sleeper_pids, wait_for_job, wait_until


def test_kill_9_then_restart(tmp_path: Path) -> None:
    server = PortalServer(tmp_path / "data", env={"PORTAL_WORKER_SLOTS": "1"}).start()
    try:
        token = server.token_for("admin")
        with server.client(token) as admin:
            assert admin.post("/api/catalog/local/import", json={"path": str(FIXTURE_CATALOG)}).status_code == 200
            running = admin.post("/api/jobs", json={"item_id": "sleeper", "inputs": {}})
            running_id = running.json()["id"]
            queued_id = admin.post("/api/jobs", json={"item_id": "noop", "inputs": {}}).json()["id"]
            child, grandchild = sleeper_pids(admin, running_id)
        server.stop(signal.SIGKILL)
        # The zygote gets a parent-death signal and kills every child's process group.
        assert wait_until(lambda: not process_alive(child) and not process_alive(grandchild), timeout=10)

        server.start()
        with server.client(token) as admin:
            interrupted = wait_for_job(admin, running_id, {"FAILED", "SUCCEEDED", "CANCELLED"})
            assert interrupted["state"] == "FAILED"
            assert interrupted["error"]["type"] == "Interrupted"
            assert wait_for_job(admin, queued_id, {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"
            retried = admin.post(f"/api/jobs/{running_id}/retry")
            assert retried.status_code == 201
    finally:
        server.stop()


def test_graceful_stop_fails_running_jobs_as_interrupted(tmp_path: Path) -> None:
    server = PortalServer(tmp_path / "data").start()
    try:
        token = server.token_for("admin")
        with server.client(token) as admin:
            job_id = admin.post("/api/jobs", json={"item_id": "example-long-task", "inputs": {}}).json()["id"]
            wait_for_job(admin, job_id, {"RUNNING"})
        server.stop(signal.SIGTERM)
        server.start()
        with server.client(token) as admin:
            job = admin.get(f"/api/jobs/{job_id}").json()
            assert job["state"] == "FAILED" and job["error"]["type"] == "Interrupted"
    finally:
        server.stop()


def test_reaper_fails_jobs_of_a_worker_that_stopped_beating(tmp_path: Path) -> None:
    """A worker registered in the database whose heartbeat is stale loses its running jobs."""
    from datetime import timedelta

    from sqlalchemy import insert

    from portal.db import session as db
    from portal.db.base import utcnow
    from portal.execution.models import Worker
    from portal.jobs.models import Job
    from portal.settings import Settings

    server = PortalServer(
        tmp_path / "data", env={"PORTAL_WORKER_LOST_AFTER_SECONDS": "2", "PORTAL_WORKER_HEARTBEAT_SECONDS": "1"}
    ).start()
    try:
        db.configure(Settings(data_dir=tmp_path / "data"))
        old = utcnow() - timedelta(minutes=5)
        with db.write() as s:
            s.execute(
                insert(Worker).values(
                    id="ghost", kind="remote", hostname="gone", pid=1, slots=1, started_at=old, heartbeat_at=old
                )
            )
            job_id = s.execute(
                insert(Job)
                .values(
                    kind="catalog_execution",
                    item_id="noop",
                    item_version="1.0.0",
                    bundle_sha256="0" * 64,
                    entrypoint="task.py",
                    inputs={},
                    state="RUNNING",
                    created_by_name="admin",
                    worker="ghost",
                    timeout_seconds=60,
                    started_at=old,
                )
                .returning(Job.id)
            ).scalar_one()
        db.dispose()
        with server.client(server.token_for("admin")) as admin:
            job = wait_for_job(admin, job_id, {"FAILED"}, timeout=30)
        assert job["error"]["type"] == "WorkerLost"
    finally:
        server.stop()


def test_a_second_portal_on_the_same_data_dir_is_refused(server: PortalServer) -> None:
    second = PortalServer(server.data_dir)
    with pytest.raises(RuntimeError, match="another portal is already serving"):
        second.start(timeout=20)
    second.stop()
    assert server.proc is not None and server.proc.poll() is None
