"""Storage cleanup on a portal of its own, with each bundle store: the preview lists the orphaned bundles (and the
versions archived past their retention), the cleanup removes exactly those, bytes and cached copies included,
and nothing that a job ran or a kept version refers to."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy

from tests.helpers import PortalServer, item_files, targz, upload, wait_for_job

API = "/api/admin/storage"


@pytest.fixture(params=["files", "database"])
def portal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[PortalServer, httpx.Client]]:
    server = PortalServer(
        tmp_path, env={"PORTAL_BUNDLE_STORE": request.param, "PORTAL_CATALOG_LOAD_EXAMPLES": "false"}
    ).start()
    try:
        with server.client(server.token_for("admin")) as admin:
            yield server, admin
    finally:
        server.stop()


def publish(admin: httpx.Client, item: str, version: str, result: str = "ok", **form: str) -> str:
    response = upload(admin, targz(item_files(item, version, result), wrap=f"{item}-{version}/"), **form)
    assert response.status_code == 200, response.text
    return str(response.json()["imported"][0]["bundle_sha256"])


def stored(server: PortalServer, sha256: str) -> bool:
    """Whether the store still holds the bundle's bytes (a file, or a row of the database store)."""
    if server.env.get("PORTAL_BUNDLE_STORE") == "files":
        return (server.data_dir / "bundles" / sha256[:2] / f"{sha256}.tar.gz").is_file()
    engine = sqlalchemy.create_engine(f"sqlite:///{server.data_dir / 'portal.db'}")
    try:
        with engine.connect() as connection:
            query = sqlalchemy.text("SELECT count(*) FROM bundle_blobs WHERE sha256 = :s")
            return bool(connection.execute(query, {"s": sha256}).scalar())
    finally:
        engine.dispose()


def test_the_cleanup_removes_exactly_what_its_preview_listed(portal: tuple[PortalServer, httpx.Client]) -> None:
    server, admin = portal
    tag = uuid.uuid4().hex[:6]
    ran = publish(admin, f"ran-{tag}", "1.0.0")
    job = admin.post("/api/jobs", json={"item_id": f"ran-{tag}", "inputs": {}})
    assert job.status_code == 201, job.text
    wait_for_job(admin, job.json()["id"], {"SUCCEEDED"})
    publish(admin, f"ran-{tag}", "1.0.0", result="new", replace="true")  # the old bundle: only its job keeps it
    orphan = publish(admin, f"gone-{tag}", "1.0.0")
    current = publish(admin, f"gone-{tag}", "1.0.0", result="new", replace="true")
    archived = publish(admin, f"old-{tag}", "1.0.0")
    publish(admin, f"old-{tag}", "2.0.0", result="two")
    moved = admin.post(
        f"/api/admin/catalog/items/old-{tag}/versions/1.0.0/transition", json={"to": "archived", "reason": "old"}
    )
    assert moved.status_code == 200, moved.text
    server.sql(
        "UPDATE catalog_versions SET status_changed_at = '2000-01-01 00:00:00' WHERE item_id = :i AND version = :v",
        i=f"old-{tag}",
        v="1.0.0",
    )
    assert admin.get(f"{API}/bundles/{orphan}/files").status_code == 200  # extracted into this node's cache
    assert admin.get(f"{API}/bundles/{current}/files").status_code == 200
    cache = server.data_dir / "cache" / "bundles"
    assert (cache / orphan).is_dir() and (cache / current).is_dir()
    # A legacy archived version (no date): not past any retention, and its bundle stays.
    legacy = publish(admin, f"legacy-{tag}", "1.0.0")
    server.sql(
        "UPDATE catalog_versions SET status = 'archived', status_changed_at = NULL WHERE item_id = :i",
        i=f"legacy-{tag}",
    )

    preview = admin.post(f"{API}/cleanup", json={"dry_run": True})
    assert preview.status_code == 200, preview.text
    listed = preview.json()
    assert {b["sha256"] for b in listed["bundles"]} == {orphan, archived}
    assert listed["versions"] == [f"old-{tag}@1.0.0"]
    assert listed["bytes"] == sum(b["size"] for b in listed["bundles"]) > 0
    assert listed["cache"]["entries"] >= 1
    assert stored(server, orphan) and stored(server, archived)  # a preview removes nothing
    summary = admin.get(f"{API}/summary").json()
    assert (summary["orphaned_bundles"], summary["orphaned_bytes"]) == (2, listed["bytes"])
    bundles = admin.get(f"{API}/bundles", params={"page_size": 200}).json()["items"]
    assert summary["bundles"] == len(bundles) and summary["bytes"] == sum(b["size"] for b in bundles)
    assert summary["growth"][-1]["total"] == summary["bytes"]  # all stored today
    assert summary["cache_entries"] >= 2 and summary["store"] == server.env["PORTAL_BUNDLE_STORE"]
    by_item = {i["item_id"]: i for i in summary["items"]}
    assert by_item[f"gone-{tag}"]["bytes"] == next(b["size"] for b in bundles if b["sha256"] == current)
    assert [v["version"] for v in by_item[f"old-{tag}"]["versions"]] == ["2.0.0", "1.0.0"]

    done = admin.post(f"{API}/cleanup", json={"dry_run": False, "bundles": [b["sha256"] for b in listed["bundles"]]})
    assert done.status_code == 200, done.text
    assert done.json()["bundles"] == listed["bundles"] and done.json()["dry_run"] is False
    assert not stored(server, orphan) and not stored(server, archived)
    assert not (cache / orphan).exists() and (cache / current).is_dir()  # what still runs stays extracted
    assert stored(server, ran) and stored(server, current) and stored(server, legacy)
    assert admin.get(f"{API}/bundles", params={"q": orphan}).json()["total"] == 0
    kept = admin.get(f"/api/jobs/{job.json()['id']}/bundle")  # a job's history keeps its bundle
    assert kept.status_code == 200 and kept.content[:2] == b"\x1f\x8b"
    rerun = admin.post("/api/jobs", json={"item_id": f"gone-{tag}", "inputs": {}})
    assert wait_for_job(admin, rerun.json()["id"], {"SUCCEEDED"})["result"]["result"] == "new"
    entries = admin.get("/api/admin/audit", params={"action": "storage.cleanup"}).json()["items"]
    assert len(entries) == 1 and set(entries[0]["details"]["bundles"]) == {orphan, archived}
    assert admin.post(f"{API}/cleanup", json={"dry_run": True}).json()["bundles"] == []
    assert admin.get(f"{API}/summary").json()["orphaned_bundles"] == 0


def test_a_cleanup_held_to_a_list_removes_nothing_else_and_bad_input_changes_nothing(
    portal: tuple[PortalServer, httpx.Client],
) -> None:
    server, admin = portal
    first = publish(admin, "one", "1.0.0")
    publish(admin, "one", "1.0.0", result="new", replace="true")
    second = publish(admin, "two", "1.0.0")
    publish(admin, "two", "1.0.0", result="new", replace="true")
    for bad in ({"dry_run": "maybe"}, {"dry_run": False, "bundles": ["nope"]}, {"dry_run": False, "extra": 1}, {}):
        assert admin.post(f"{API}/cleanup", json=bad).status_code == 422, bad
    assert stored(server, first) and stored(server, second)
    held = admin.post(f"{API}/cleanup", json={"dry_run": False, "bundles": [first]}).json()
    assert [b["sha256"] for b in held["bundles"]] == [first]
    assert not stored(server, first) and stored(server, second)


def test_a_bundle_referred_to_after_the_preview_is_kept(portal: tuple[PortalServer, httpx.Client]) -> None:
    server, admin = portal
    orphan = publish(admin, "back", "1.0.0")
    publish(admin, "back", "1.0.0", result="new", replace="true")
    listed = admin.post(f"{API}/cleanup", json={"dry_run": True}).json()["bundles"]
    assert [b["sha256"] for b in listed] == [orphan]
    assert publish(admin, "back", "1.0.0", replace="true") == orphan  # its old content again: referred to
    done = admin.post(f"{API}/cleanup", json={"dry_run": False, "bundles": [orphan]})
    assert done.status_code == 200 and done.json()["bundles"] == [] and done.json()["bytes"] == 0
    assert stored(server, orphan)
    job = admin.post("/api/jobs", json={"item_id": "back", "inputs": {}})
    assert wait_for_job(admin, job.json()["id"], {"SUCCEEDED"})["result"]["result"] == "ok"
