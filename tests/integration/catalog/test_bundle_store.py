"""The database bundle store on SQLite and PostgreSQL: idempotent and race-free puts, verified fetches into an
atomic per-node cache, and a job run end to end by `portal serve` with PORTAL_BUNDLE_STORE=database."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from portal.catalog.blobstore import DatabaseBundleStore
from portal.catalog.bundles import BundleCache, BundleCorrupt, BundleMissing, pack_folder
from portal.catalog.models import BundleBlob
from portal.db import session as db
from portal.errors import PayloadTooLarge
from portal.settings import Settings
from tests.conftest import migrated_database
from tests.helpers import EXAMPLES, FIXTURE_CATALOG, PortalServer, item_files, wait_for_job, write


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A migrated database of each kind, configured for this process; the bundle store set to the database."""
    with migrated_database(request, tmp_path / "data", bundle_store="database") as settings:
        yield settings


def bundle(tmp_path: Path, name: str = "item") -> bytes:
    return pack_folder(write(tmp_path / "src" / name, item_files(name, "1.0.0")))


def blob_rows() -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(BundleBlob)) or 0)


def test_put_is_idempotent_and_read_back(database: Settings, tmp_path: Path) -> None:
    store = DatabaseBundleStore()
    data = bundle(tmp_path)
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.put(data) == digest
    with db.write() as s:  # in a caller's transaction, as the catalog does it
        assert store.put(data, s) == digest
    assert blob_rows() == 1
    assert store.exists(digest) and store.read(digest) == data
    assert store.summary() == (1, len(data))
    with pytest.raises(BundleMissing):
        store.read("0" * 64)


def test_nodes_storing_the_same_bundle_at_once_both_succeed(database: Settings, tmp_path: Path) -> None:
    store = DatabaseBundleStore()
    for round_ in range(5):
        data = bundle(tmp_path, f"race{round_}")
        start = threading.Barrier(4)
        errors: list[BaseException] = []

        def put(data: bytes = data, start: threading.Barrier = start, errors: list[BaseException] = errors) -> None:
            try:
                start.wait()
                store.put(data)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=put) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
    assert blob_rows() == 5


def test_a_bundle_over_the_size_limit_is_refused(database: Settings, tmp_path: Path) -> None:
    data = bundle(tmp_path)
    with pytest.raises(PayloadTooLarge, match="PORTAL_CATALOG_BUNDLE_MAX_BYTES"):
        DatabaseBundleStore(max_bytes=len(data) - 1).put(data)
    assert blob_rows() == 0


def test_cache_fetches_verifies_and_then_never_reads_the_database(database: Settings, tmp_path: Path) -> None:
    store = DatabaseBundleStore()
    digest = store.put(bundle(tmp_path))
    root = tmp_path / "cache"
    folder = BundleCache(store, root).directory(digest)
    assert folder == root / digest
    assert "def run(inputs)" in (folder / "task.py").read_text()
    assert not (folder / "task.py").stat().st_mode & 0o222
    db.dispose()  # no database at all now: a hit, even in a new process's cache object, must not need it
    assert BundleCache(store, root).directory(digest) == folder
    with pytest.raises(RuntimeError, match="database not configured"):
        BundleCache(store, tmp_path / "other-node").directory(digest)


def test_a_corrupted_blob_is_refused_and_not_cached(database: Settings, tmp_path: Path) -> None:
    store = DatabaseBundleStore()
    digest = store.put(bundle(tmp_path))
    tampered = bundle(tmp_path, "evil")
    with db.write() as s:
        s.execute(update(BundleBlob).where(BundleBlob.sha256 == digest).values(content=tampered))
    root = tmp_path / "cache"
    cache = BundleCache(store, root)
    with pytest.raises(BundleCorrupt, match="failed its checksum"):
        cache.directory(digest)
    assert not (root / digest).exists()
    assert not list(root.glob(".tmp-*"))
    with pytest.raises(BundleCorrupt):  # and again: a refusal is not remembered as a success
        cache.directory(digest)


def test_concurrent_fetches_of_one_bundle_on_a_node(database: Settings, tmp_path: Path) -> None:
    """Separate caches on one folder stand for the slots of several processes: each has its own lock."""
    store = DatabaseBundleStore()
    digest = store.put(bundle(tmp_path))
    root = tmp_path / "cache"
    start = threading.Barrier(8)
    found: list[Path] = []
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            start.wait()
            found.append(BundleCache(store, root).directory(digest))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert found == [root / digest] * 8
    assert sorted(p.name for p in (root / digest).iterdir()) == ["README.md", "manifest.yaml", "schema.json", "task.py"]
    assert [p.name for p in root.iterdir()] == [digest]  # no temporary folder left behind


# --- end to end through `portal serve` -------------------------------------------------------------------------


def _server(data: Path, items: Path, **env: str) -> PortalServer:
    return PortalServer(
        data,
        env={
            "PORTAL_CATALOG_LOCAL_ROOTS": f"{EXAMPLES},{FIXTURE_CATALOG},{items}",
            "PORTAL_CATALOG_LOAD_EXAMPLES": "0",
            **env,
        },
    )


def _run(client: httpx.Client, item_id: str) -> dict[str, Any]:
    created = client.post("/api/jobs", json={"item_id": item_id, "version": "1.0.0", "inputs": {}})
    assert created.status_code == 201, created.text
    return wait_for_job(client, created.json()["id"], {"SUCCEEDED", "FAILED"})


def test_a_job_runs_from_the_database_store(tmp_path: Path) -> None:
    items = tmp_path / "items"
    write(items / "stored", item_files("stored", "1.0.0", result="from the database"))
    write(items / "tampered", item_files("tampered", "1.0.0"))
    server = _server(tmp_path / "data", items, PORTAL_BUNDLE_STORE="database").start()
    try:
        with server.client(server.token_for("admin")) as admin:
            imported = admin.post("/api/catalog/local/import", json={"path": str(items)})
            assert imported.status_code == 200, imported.text
            sha = {v["item_id"]: v["bundle_sha256"] for v in imported.json()["imported"]}
            cache = tmp_path / "data" / "cache" / "bundles"
            assert not (cache / sha["stored"]).exists()
            assert not (tmp_path / "data" / "bundles").exists()  # nothing written to the data directory

            job = _run(admin, "stored")
            assert job["state"] == "SUCCEEDED", job
            assert job["result"] == {"result": "from the database", "version": "1.0.0"}
            assert (cache / sha["stored"] / "task.py").is_file()

            download = admin.get("/api/catalog/stored/1.0.0/bundle")
            assert download.status_code == 200
            assert hashlib.sha256(download.content).hexdigest() == sha["stored"]
            assert 'filename="stored@1.0.0.tar.gz"' in download.headers["content-disposition"]

            storage = admin.get("/api/admin/system").json()["storage"]
            assert storage["bundle_store"] == "database"
            assert storage["stored_bundles"] == storage["bundles"] == 2
            assert storage["stored_bundle_bytes"] == storage["bundle_bytes"] > 0

            with sqlite3.connect(tmp_path / "data" / "portal.db") as conn:
                conn.execute("UPDATE bundle_blobs SET content = x'1f8b00' WHERE sha256 = ?", (sha["tampered"],))
            job = _run(admin, "tampered")
            assert job["state"] == "FAILED"
            assert job["error"]["type"] == "BundleUnavailable"
            assert "failed its checksum" in job["error"]["message"]
            assert not (cache / sha["tampered"]).exists()
            refused = admin.get("/api/catalog/tampered/1.0.0/bundle")
            assert refused.status_code == 502
            assert refused.json()["error"]["code"] == "bundle_corrupt"
    finally:
        server.stop()


def test_bundle_files_move_to_the_database(tmp_path: Path) -> None:
    items = tmp_path / "items"
    write(items / "moved", item_files("moved", "1.0.0", result="moved"))
    data = tmp_path / "data"
    server = _server(data, items, PORTAL_BUNDLE_STORE="files").start()
    try:
        with server.client(server.token_for("admin")) as admin:
            imported = admin.post("/api/catalog/local/import", json={"path": str(items)})
            assert imported.status_code == 200, imported.text
            sha = imported.json()["imported"][0]["bundle_sha256"]
    finally:
        server.stop()
    assert (data / "bundles" / sha[:2] / f"{sha}.tar.gz").is_file()

    database = _server(data, items, PORTAL_BUNDLE_STORE="database")
    pushed = database.cli("catalog", "push-bundles")
    assert pushed.returncode == 0, pushed.stderr
    assert f"uploaded   {sha}" in pushed.stdout
    again = database.cli("catalog", "push-bundles")
    assert "0 uploaded, 1 already stored, 0 missing" in again.stdout

    # Another node: no bundle files and an empty cache; the job's bundle comes from the database.
    (data / "bundles" / sha[:2] / f"{sha}.tar.gz").unlink()
    database.start()
    try:
        with database.client(database.token_for("admin")) as admin:
            job = _run(admin, "moved")
            assert job["state"] == "SUCCEEDED", job
            assert (data / "cache" / "bundles" / sha).is_dir()
    finally:
        database.stop()
