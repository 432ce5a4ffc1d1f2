"""`portal backup` of a portal while its jobs run, restored into a new SQLite data directory and a new PostgreSQL
database: the job list, the audit log and the bundles (by sha256) match the source's, secrets still decrypt, and
the restored portal runs an old job's version again."""

from __future__ import annotations

import hashlib
import json
import tarfile
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import FIXTURE_CATALOG, PortalServer, wait_for_job, wait_until

FINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
SECRET_VALUE = "s3cret-value"


def _add_secret(admin: httpx.Client) -> None:
    """A secret (encrypted at rest) and a job with a sealed password input."""
    created = admin.post(
        "/api/admin/secrets", json={"name": "API_TOKEN", "value": SECRET_VALUE, "items": ["secretive"]}
    )
    assert created.status_code == 201, created.text
    job = admin.post("/api/jobs", json={"item_id": "secretive", "inputs": {"user": "u", "password": "pw-12345678"}})
    assert job.status_code == 201, job.text
    assert wait_for_job(admin, job.json()["id"], FINAL)["state"] == "SUCCEEDED"


def _jobs(client: httpx.Client) -> dict[int, dict[str, Any]]:
    jobs: dict[int, dict[str, Any]] = {}
    page = 1
    while True:
        body = client.get("/api/jobs", params={"page": page, "page_size": 200}).json()
        jobs.update({job["id"]: job for job in body["items"]})
        if len(jobs) >= body["total"] or not body["items"]:
            return jobs
        page += 1


def _audit(client: httpx.Client) -> dict[int, dict[str, Any]]:
    entries: dict[int, dict[str, Any]] = {}
    params: dict[str, Any] = {"limit": 1000}
    while True:
        body = client.get("/api/admin/audit", params=params).json()
        entries.update({entry["id"]: entry for entry in body["items"]})
        if body["next_before_id"] is None:
            return entries
        params["before_id"] = body["next_before_id"]


def _same_job(source: dict[str, Any], restored: dict[str, Any]) -> bool:
    keys = ("kind", "item_id", "item_version", "created_at", "created_by")
    return all(source.get(k) == restored.get(k) for k in keys)


def _bundle_files(data_dir: Path) -> dict[str, str]:
    """Every bundle file of a data directory: its name and the sha256 of its bytes."""
    return {
        p.name.removesuffix(".tar.gz"): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (data_dir / "bundles").glob("??/*.tar.gz")
    }


def _database_bundles(url: str) -> dict[str, str]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sqlalchemy.text("SELECT sha256, content FROM bundle_blobs")).all()
    finally:
        engine.dispose()
    return {sha256: hashlib.sha256(bytes(content)).hexdigest() for sha256, content in rows}


def _check_restored(
    source: PortalServer, restored: PortalServer, token: str, before: dict[int, dict[str, Any]]
) -> None:
    """The restored portal holds the source's jobs as of the backup (those finished before it unchanged), its
    audit log as of then, a secret that still decrypts for a job, and runs an old job's version again."""
    with source.client(token) as a, restored.client(token) as b:
        source_jobs, restored_jobs = _jobs(a), _jobs(b)
        source_audit, restored_audit = _audit(a), _audit(b)
        for job_id, job in before.items():
            assert restored_jobs[job_id] == job  # finished before the backup: unchanged, to the last field
        assert set(restored_jobs) <= set(source_jobs)
        assert all(_same_job(source_jobs[i], job) for i, job in restored_jobs.items())
        # The audit log is append-only: the restored one is the source's up to the moment of the backup.
        cut = max(restored_audit)
        assert restored_audit == {i: e for i, e in source_audit.items() if i <= cut}

        old = b.get(f"/api/jobs/{min(i for i, job in before.items() if job['item_id'] == 'noop')}").json()
        again = b.post("/api/jobs", json={"item_id": "noop", "version": old["item_version"], "inputs": old["inputs"]})
        assert again.status_code == 201, again.text
        rerun = wait_for_job(b, again.json()["id"], FINAL)
        assert rerun["state"] == "SUCCEEDED", rerun
        assert (rerun["item_version"], rerun["bundle_sha256"]) == (old["item_version"], old["bundle_sha256"])
        secret_job = b.post(
            "/api/jobs", json={"item_id": "secretive", "inputs": {"user": "u", "password": "pw-12345678"}}
        )
        assert secret_job.status_code == 201, secret_job.text
        echoed = wait_for_job(b, secret_job.json()["id"], FINAL)
        assert echoed["state"] == "SUCCEEDED", echoed
        assert echoed["result"]["token_length"] == len(SECRET_VALUE)  # decrypted with the source's key


@pytest.mark.parametrize("target", ["sqlite", "postgresql"])
def test_backup_while_jobs_run_restores_to_a_matching_portal(
    target: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    source = PortalServer(tmp_path / "source", env={"PORTAL_WORKER_SLOTS": "2"}).start()
    try:
        token = source.token_for("admin")
        with source.client(token) as admin:
            assert admin.post("/api/catalog/local/import", json={"path": str(FIXTURE_CATALOG)}).status_code == 200
            _add_secret(admin)
            done = [admin.post("/api/jobs", json={"item_id": "noop", "inputs": {}}).json()["id"] for _ in range(5)]
            for job_id in done:
                wait_for_job(admin, job_id, FINAL)
            before = _jobs(admin)

            # Jobs keep arriving and finishing while the backup reads the portal.
            stop = threading.Event()

            def submit() -> None:
                with source.client(token) as c:
                    while not stop.is_set():
                        c.post("/api/jobs", json={"item_id": "noop", "inputs": {}})

            writer = threading.Thread(target=submit)
            writer.start()
            try:
                assert wait_until(lambda: len(_jobs(admin)) > len(before) + 3, timeout=30)
                archive = tmp_path / "portal.tar"
                made = source.cli("backup", str(archive))
            finally:
                stop.set()
                writer.join()
            assert made.returncode == 0, made.stderr
            assert "backup written to" in made.stdout
            for job_id in _jobs(admin):
                wait_for_job(admin, job_id, FINAL)

        with tarfile.open(archive) as tar:
            names = tar.getnames()
            manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert names[0] == "portal-backup.json" and names[-1] == "manifest.json"
        assert "secrets.key" not in names  # never without --include-secrets-key
        assert set(manifest["members"]) == set(names) - {"manifest.json"}

        key = (source.data_dir / "secrets.key").read_text().strip()
        env = {"PORTAL_SECRETS_KEY": key}
        if target == "postgresql":
            env["PORTAL_DATABASE_URL"] = request.getfixturevalue("postgres_url")
        restored = PortalServer(tmp_path / "restored", env=env)
        result = restored.cli("restore", str(archive))
        assert result.returncode == 0, result.stderr
        restored.start()
        try:
            _check_restored(source, restored, token, before)
        finally:
            restored.stop()
        stored = (
            _database_bundles(env["PORTAL_DATABASE_URL"])
            if target == "postgresql"
            else _bundle_files(restored.data_dir)
        )
        assert stored == _bundle_files(source.data_dir)
        assert all(name == digest for name, digest in stored.items())
    finally:
        source.stop()


def test_a_postgresql_portal_backs_up_and_restores_to_sqlite_with_its_key(tmp_path: Path, postgres_url: str) -> None:
    """The logical dump of PostgreSQL: restored into SQLite with the key the archive was asked to carry."""
    env = {"PORTAL_DATABASE_URL": postgres_url, "PORTAL_SECRETS_KEY": "h3lY0ZCm1oHvnGmJ7rlt6mDsfGmHgQ7Lqgq8wG8k7xY="}
    source = PortalServer(tmp_path / "source", env=env).start()
    try:
        token = source.token_for("admin")
        with source.client(token) as admin:
            assert admin.post("/api/catalog/local/import", json={"path": str(FIXTURE_CATALOG)}).status_code == 200
            _add_secret(admin)
            job_id = admin.post("/api/jobs", json={"item_id": "noop", "inputs": {}}).json()["id"]
            wait_for_job(admin, job_id, FINAL)
            before = _jobs(admin)
        archive = tmp_path / "portal.tar"
        made = source.cli("backup", str(archive), "--include-secrets-key")
        assert made.returncode == 0, made.stderr

        restored = PortalServer(tmp_path / "restored", env={"PORTAL_DATABASE_URL": "", "PORTAL_SECRETS_KEY": ""})
        result = restored.cli("restore", str(archive))
        assert result.returncode == 0, result.stderr
        assert "secrets key was written" in result.stdout
        restored.start()
        try:
            _check_restored(source, restored, token, before)
        finally:
            restored.stop()
        assert _bundle_files(restored.data_dir) == _database_bundles(postgres_url)
    finally:
        source.stop()


def test_restore_refuses_a_portal_that_is_running(tmp_path: Path) -> None:
    server = PortalServer(tmp_path / "data").start()
    try:
        archive = tmp_path / "portal.tar"
        assert server.cli("backup", str(archive)).returncode == 0
        refused = server.cli("restore", str(archive), "--force")
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines() == [
            f"error: a portal is running on {server.data_dir}: stop it before restoring"
        ]
    finally:
        server.stop()


def test_cleanup_waits_for_a_backup_reading_the_bundles(tmp_path: Path) -> None:
    """The cleanup is refused (409) while a backup holds the bundle files; it goes through once it ends."""
    from portal.fs import file_lock

    server = PortalServer(tmp_path / "data").start()
    try:
        with server.client(server.token_for("admin")) as admin:
            with file_lock(server.data_dir / "bundles.lock", shared=True, wait=True):
                busy = admin.post("/api/admin/storage/cleanup", json={"dry_run": False})
                preview = admin.post("/api/admin/storage/cleanup", json={"dry_run": True})
            assert busy.status_code == 409, busy.text
            assert "backup" in busy.json()["error"]["message"]
            assert preview.status_code == 200
            assert admin.post("/api/admin/storage/cleanup", json={"dry_run": False}).status_code == 200
    finally:
        server.stop()
