"""Retention on a running portal: `portal admin prune` trims an old job to its summary, which the API and the
job's log say; an item's own retention is an admin's to set."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import PortalServer, item_files, targz, upload, wait_for_job


def test_an_old_job_is_trimmed_to_its_summary(tmp_path: Path) -> None:
    server = PortalServer(
        tmp_path, env={"PORTAL_JOB_LOG_RETENTION_DAYS": "1", "PORTAL_CATALOG_LOAD_EXAMPLES": "false"}
    ).start()
    try:
        with server.client(server.token_for("admin")) as admin:
            files = {
                **item_files("aged", "1.0.0"),
                "task.py": "def run(inputs):\n    print('hello')\n    return {'ok': 1}\n",
            }
            assert upload(admin, targz(files, wrap="aged-1.0.0/")).status_code == 200
            created = admin.post("/api/jobs", json={"item_id": "aged", "inputs": {}}).json()
            job = wait_for_job(admin, created["id"], {"SUCCEEDED"})
            assert job["result"] is not None and job["pruned_at"] is None
            assert admin.get(f"/api/jobs/{job['id']}/logs").json()["items"]
            server.sql(
                "UPDATE jobs SET created_at = '2000-01-01 00:00:00', finished_at = '2000-01-01 00:00:03' WHERE id = :i",
                i=job["id"],
            )
            pruned = server.cli("admin", "prune")
            assert pruned.returncode == 0, pruned.stderr
            assert "0 job(s) deleted, 1 trimmed" in pruned.stdout
            detail = admin.get(f"/api/jobs/{job['id']}").json()
            assert detail["pruned_at"] is not None and detail["result"] is None and detail["state"] == "SUCCEEDED"
            assert all(e["kind"] != "progress" for e in detail["events"]) and detail["events"]
            assert admin.get(f"/api/jobs/{job['id']}/logs").json()["items"] == []
            assert "1 trimmed" not in server.cli("admin", "prune").stdout  # once

            refused = admin.patch("/api/admin/catalog/items/aged", json={"job_retention_days": -1})
            assert refused.status_code == 422
            kept = admin.patch("/api/admin/catalog/items/aged", json={"job_retention_days": 365})
            assert kept.status_code == 200 and kept.json()["job_retention_days"] == 365
    finally:
        server.stop()
