"""The bundle browser: each bundle with the versions that refer to it and the jobs that ran it, its files read
only (text as text, binaries as size and hash), its download; nothing outside the bundle, and for admins only."""

from __future__ import annotations

import hashlib
import uuid

import httpx

from tests.helpers import item_files, targz, upload, wait_for_job

API = "/api/admin/storage/bundles"
BINARY = bytes(range(256)) * 4


def test_a_bundle_shows_what_refers_to_it_and_its_files(publisher: httpx.Client, admin: httpx.Client) -> None:
    item = f"stored-{uuid.uuid4().hex[:8]}"
    files: dict[str, bytes | str] = {**item_files(item, "1.0.0"), "data/blob.bin": BINARY, "data/notes.txt": "héllo\n"}
    response = upload(publisher, targz(files, wrap=f"{item}-1.0.0/"))
    assert response.status_code == 200, response.text
    sha256 = response.json()["imported"][0]["bundle_sha256"]

    page = admin.get(API, params={"q": item}).json()
    assert page["total"] == 1
    row = page["items"][0]
    assert row["sha256"] == sha256 and row["size"] > 0
    assert row["references"] == [{"item_id": item, "version": "1.0.0", "state": "active"}]
    assert row["jobs"] == 0 and row["last_used_at"] is None
    assert admin.get(API, params={"q": sha256[:12]}).json()["items"][0]["sha256"] == sha256

    job = publisher.post("/api/jobs", json={"item_id": item, "inputs": {}})
    assert job.status_code == 201, job.text
    wait_for_job(publisher, job.json()["id"], {"SUCCEEDED"})
    row = admin.get(API, params={"q": item}).json()["items"][0]
    assert row["jobs"] == 1 and row["last_used_at"] is not None

    listed = admin.get(f"{API}/{sha256}/files").json()["files"]
    assert [f["path"] for f in listed] == [
        "README.md",
        "data/blob.bin",
        "data/notes.txt",
        "manifest.yaml",
        "schema.json",
        "task.py",
    ]
    assert {f["path"]: f["size"] for f in listed}["data/blob.bin"] == len(BINARY)

    text = admin.get(f"{API}/{sha256}/files/data/notes.txt").json()
    assert text["text"] == "héllo\n" and text["binary"] is False and text["truncated"] is False
    assert text["sha256"] == hashlib.sha256("héllo\n".encode()).hexdigest()
    binary = admin.get(f"{API}/{sha256}/files/data/blob.bin").json()
    assert binary["binary"] is True and binary["text"] is None and binary["size"] == len(BINARY)
    assert binary["sha256"] == hashlib.sha256(BINARY).hexdigest()

    downloaded = admin.get(f"{API}/{sha256}/download")
    assert downloaded.status_code == 200 and hashlib.sha256(downloaded.content).hexdigest() == sha256


def test_nothing_outside_a_bundle_and_nothing_for_non_admins(publisher: httpx.Client, admin: httpx.Client) -> None:
    item = f"stored-{uuid.uuid4().hex[:8]}"
    response = upload(publisher, targz(item_files(item, "1.0.0"), wrap=f"{item}-1.0.0/"))
    sha256 = response.json()["imported"][0]["bundle_sha256"]
    # httpx resolves literal dot segments itself; encoded ones reach the server as they are.
    for path in ("%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "data/%2e%2e/%2e%2e/x", "%2Fetc%2Fpasswd", "a%00b"):
        escaped = admin.get(f"{API}/{sha256}/files/{path}")
        assert escaped.status_code in (404, 422), (path, escaped.status_code, escaped.text)
        assert "root:" not in escaped.text
    assert admin.get(f"{API}/{sha256}/files/nope.txt").status_code == 404
    assert admin.get(f"{API}/{'0' * 64}/files").status_code == 404
    assert admin.get(f"{API}/not-a-sha/files").status_code == 422
    assert admin.get(API, params={"sort": "nope"}).status_code == 422
    assert publisher.get(API).status_code == 403
    assert publisher.get(f"{API}/{sha256}/files/task.py").status_code == 403
