"""Refreshes of catalog sources against a real `portal serve` and real Git repositories made here: a refresh job
imports the tagged versions (a broken item among good ones is listed with its problems while the others import),
a folder source the same, the status survives a restart, a refresh asked for while one waits is that one, one
asked for right after one ended is a 429, a disabled source refuses, and the poll refreshes after poll_seconds."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import EXAMPLES, FIXTURE_CATALOG, PortalServer, git, wait_for_job, wait_until

FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
WEBHOOK_SECRET = "webhook-" + "test-secret"


def write_item(folder: Path, item_id: str, version: str, extra: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    manifest = f'id: {item_id}\nname: {item_id}\nversion: "{version}"\nentrypoint: task.py\n{extra}'
    (folder / "manifest.yaml").write_text(manifest)
    (folder / "schema.json").write_text('{"type": "object", "properties": {}}')
    (folder / "task.py").write_text("def run(inputs):\n    return {'ok': True}\n")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Tags alpha@1.0.0, alpha@1.1.0, beta@1.0.0, broken@1.0.0 (an unknown manifest key) and v1 (not an item)."""
    work = tmp_path_factory.mktemp("repo")
    git(work, "init", "-q")
    write_item(work / "items" / "alpha", "alpha", "1.0.0")
    write_item(work / "items" / "beta", "beta", "1.0.0")
    write_item(work / "items" / "broken", "broken", "1.0.0", "colour: red\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "first")
    for tag in ("alpha@1.0.0", "beta@1.0.0", "broken@1.0.0", "v1"):
        git(work, "tag", tag)
    write_item(work / "items" / "alpha", "alpha", "1.1.0")
    git(work, "commit", "-q", "-am", "alpha 1.1.0")
    git(work, "tag", "alpha@1.1.0")
    return f"file://{work}"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("folder")
    write_item(root / "items" / "gamma" / "1.0.0", "gamma", "1.0.0")
    write_item(root / "items" / "gamma" / "2.0.0", "gamma", "2.0.0")
    write_item(root / "items" / "delta" / "1.0.0", "delta", "1.0.0", "colour: blue\n")
    # An item folder linked from outside the allowed roots: listed with its problem, the others still import.
    outside = tmp_path_factory.mktemp("outside")
    write_item(outside / "1.0.0", "outside", "1.0.0")
    (root / "items" / "outside").symlink_to(outside)
    return root


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory, folder: Path) -> Iterator[PortalServer]:
    env = {
        "PORTAL_GIT_ALLOW_FILE": "true",
        "PORTAL_WORKER_SLOTS": "1",
        "PORTAL_CATALOG_LOCAL_ROOTS": f"{EXAMPLES},{FIXTURE_CATALOG},{folder}",
        "PORTAL_SOURCES_REFRESH_MIN_SECONDS": "30",
        "PORTAL_SOURCES_POLL_MIN_SECONDS": "1",
        "PORTAL_SOURCES_POLL_CHECK_SECONDS": "0.3",
        "PORTAL_GIT_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    server = PortalServer(tmp_path_factory.mktemp("refresh"), env).start()
    try:
        yield server
    finally:
        server.stop()


def admin_client(portal: PortalServer) -> httpx.Client:
    return portal.client(portal.token_for("admin"))


def save(admin: httpx.Client, *sources: dict[str, Any], refresh: bool = False, probe: bool = True) -> dict[str, Any]:
    etag = admin.get("/api/admin/sources").headers["ETag"]
    document = {"apiVersion": "portal/v1", "kind": "CatalogSources", "sources": list(sources)}
    params = {"refresh": refresh, "probe": probe}
    answer = admin.put("/api/admin/sources", params=params, json=document, headers={"If-Match": etag})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def status_of(admin: httpx.Client, source_id: str) -> dict[str, Any]:
    sources = admin.get("/api/admin/sources").json()["sources"]
    found: dict[str, Any] = next(source["status"] for source in sources if source["id"] == source_id)
    return found


def test_refreshes_git_and_folder_sources_one_bad_item_never_stops_the_others(
    portal: PortalServer, repo: str, folder: Path
) -> None:
    platform = {"id": "platform", "type": "git", "url": repo, "poll_seconds": 0}
    local = {"id": "local", "type": "folder", "path": str(folder), "poll_seconds": 0}
    with admin_client(portal) as admin:
        saved = save(admin, platform, local, refresh=True)
        assert len(saved["refresh_jobs"]) == 2
        for job_id in saved["refresh_jobs"]:
            assert wait_for_job(admin, job_id, FINAL)["state"] == "SUCCEEDED"
        status = status_of(admin, "platform")
        assert status["state"] == "available" and status["last_refresh_status"] == "partial", status
        assert (status["versions_imported"], status["versions_unchanged"], status["versions_failed"]) == (3, 0, 1)
        assert status["summary"] == "3 new, 0 unchanged, 1 failed" and status["duration_ms"] >= 0
        problem = status["problems"][0]
        assert (problem["item_id"], problem["version"]) == ("broken", "1.0.0") and "colour" in problem["message"]
        assert problem["line"] == 5 and problem["file"].endswith("manifest.yaml")
        versions = admin.get("/api/catalog/alpha/versions").json()
        assert {v["version"] for v in (versions["items"] if isinstance(versions, dict) else versions)} >= {
            "1.0.0",
            "1.1.0",
        }
        local_status = status_of(admin, "local")
        assert (local_status["versions_imported"], local_status["versions_failed"]) == (2, 2), local_status
        problems = {problem["item_id"]: problem["message"] for problem in local_status["problems"]}
        assert "colour" in problems["delta"] and "allowed" in problems["outside"], problems
    # The status is kept across a restart.
    portal.stop()
    portal.start()
    with admin_client(portal) as admin:
        again = status_of(admin, "platform")
        assert again == {**status, "job_id": again["job_id"]} and again["job_id"] == status["job_id"]
        assert httpx.get(f"{portal.url}/readyz").json()["checks"]["sources"] == "ok"


def test_refresh_is_deduplicated_rate_limited_and_refused_when_disabled(portal: PortalServer, repo: str) -> None:
    second = {"id": "second", "type": "git", "url": repo, "poll_seconds": 0}
    off = {"id": "off", "type": "git", "url": repo, "poll_seconds": 0, "enabled": False}
    with admin_client(portal) as admin:
        save(admin, second, off)
        # The only worker slot is busy for five seconds: the refresh waits in the queue.
        busy = admin.post("/api/jobs", json={"item_id": "example-long-task", "inputs": {}})
        assert busy.status_code in (200, 201, 202), busy.text
        assert wait_until(lambda: admin.get(f"/api/jobs/{busy.json()['id']}").json()["state"] == "RUNNING")
        first = admin.post("/api/admin/sources/second/refresh")
        assert first.status_code == 202 and first.json()["kind"] == "source_refresh", first.text
        repeat = admin.post("/api/admin/sources/second/refresh")
        assert repeat.status_code == 200 and repeat.json()["id"] == first.json()["id"]
        assert status_of(admin, "second")["state"] == "refreshing"
        assert wait_for_job(admin, first.json()["id"], FINAL, timeout=60)["state"] == "SUCCEEDED"
        assert wait_until(lambda: status_of(admin, "second")["state"] == "available")
        limited = admin.post("/api/admin/sources/second/refresh")
        assert limited.status_code == 429 and 0 < int(limited.headers["Retry-After"]) <= 30
        disabled = admin.post("/api/admin/sources/off/refresh")
        assert disabled.status_code == 409 and disabled.json()["error"]["code"] == "source_disabled"
        assert status_of(admin, "off")["state"] == "disabled"
        assert admin.post("/api/admin/sources/nope/refresh").status_code == 404


def test_the_poll_refreshes_after_poll_seconds(portal: PortalServer, repo: str) -> None:
    polled = {"id": "polled", "type": "git", "url": repo, "poll_seconds": 2}
    with admin_client(portal) as admin:
        save(admin, polled)
        assert status_of(admin, "polled")["last_refresh_time"] is None
        assert wait_until(lambda: status_of(admin, "polled")["last_refresh_time"] is not None, timeout=30)
        status = status_of(admin, "polled")
        assert status["versions_failed"] == 1 and status["versions_imported"] + status["versions_unchanged"] == 3
        jobs = admin.get("/api/jobs", params={"kind": "source_refresh", "page_size": 100}).json()["items"]
        assert any(job["item_id"] == "polled" and job["created_by_name"] == "sources poll" for job in jobs), jobs


def push(portal: PortalServer, repo: str, tag: str) -> httpx.Response:
    body = json.dumps({"ref": f"refs/tags/{tag}", "repository": {"clone_url": repo}}).encode()
    signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": signature, "X-GitHub-Event": "push", "Content-Type": "application/json"}
    return httpx.post(f"{portal.url}/api/catalog/git/webhook", content=body, headers=headers)


def test_the_webhook_of_a_source_refreshes_it_and_a_disabled_one_is_refused(portal: PortalServer, repo: str) -> None:
    hooked = {"id": "hooked", "type": "git", "url": repo, "poll_seconds": 0, "webhook": True}
    with admin_client(portal) as admin:
        save(admin, hooked)
        answer = push(portal, repo, "beta@1.0.0")
        assert answer.status_code == 202 and len(answer.json()["accepted"]) == 1, answer.text
        job = wait_for_job(admin, answer.json()["accepted"][0], FINAL, timeout=60)
        assert job["kind"] == "source_refresh" and job["item_id"] == "hooked" and job["state"] == "SUCCEEDED"
        save(admin, {**hooked, "enabled": False})
        refused = push(portal, repo, "beta@1.0.0")
        assert refused.status_code == 403 and "disabled" in refused.json()["error"]["message"]


def test_livez_and_readyz(portal: PortalServer) -> None:
    assert httpx.get(f"{portal.url}/livez").json() == {"status": "ok"}
    ready = httpx.get(f"{portal.url}/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["sources"] == "ok"


def versions_of(admin: httpx.Client, item_id: str) -> dict[str, dict[str, Any]]:
    listed = admin.get(f"/api/catalog/{item_id}/versions").json()
    return {v["version"]: v for v in (listed["items"] if isinstance(listed, dict) else listed)}


def test_versions_gone_are_noted_a_failed_refresh_clears_them_and_deleting_keeps_the_imports(
    portal: PortalServer, folder: Path
) -> None:
    later = folder / "later"
    write_item(later / "items" / "eps" / "1.0.0", "eps", "1.0.0")
    write_item(later / "items" / "eps" / "1.1.0", "eps", "1.1.0")
    source = {"id": "later", "type": "folder", "path": str(later), "poll_seconds": 0}
    with admin_client(portal) as admin:

        def refreshed_by_saving(poll_seconds: int, probe: bool = True) -> dict[str, Any]:
            saved = save(admin, {**source, "poll_seconds": poll_seconds}, refresh=True, probe=probe)
            wait_for_job(admin, saved["refresh_jobs"][0], FINAL)
            return status_of(admin, "later")

        assert refreshed_by_saving(0)["versions_imported"] == 2
        for path in sorted((later / "items" / "eps" / "1.1.0").iterdir()):
            path.unlink()
        (later / "items" / "eps" / "1.1.0").rmdir()
        gone = refreshed_by_saving(3600)
        assert gone["versions_missing"] == ["eps@1.1.0"] and gone["summary"].endswith("1 gone from the source")
        assert "1.1.0" in versions_of(admin, "eps")  # noted, never deleted
        for path in sorted(later.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        later.rmdir()
        failed = refreshed_by_saving(7200, probe=False)  # the folder is gone: saved without the probe
        assert failed["last_refresh_status"] == "failed" and failed["versions_missing"] == [], failed
        save(admin)  # the source deleted: what it imported stays, and still names it
        kept = versions_of(admin, "eps")
        assert set(kept) == {"1.0.0", "1.1.0"} and kept["1.1.0"]["source"]["source_id"] == "later", kept


def test_a_password_in_the_url_never_reaches_git_a_step_or_the_status(portal: PortalServer) -> None:
    password = "pa55-" + "w0rd-in-url"
    inline = {"id": "inline", "type": "git", "url": f"https://bob:{password}@git.invalid/r.git", "poll_seconds": 0}
    with admin_client(portal) as admin:
        # Probed on saving (the default), a source that can never refresh is refused ...
        etag = admin.get("/api/admin/sources").headers["ETag"]
        document = {"apiVersion": "portal/v1", "kind": "CatalogSources", "sources": [inline]}
        refused = admin.put("/api/admin/sources", json=document, headers={"If-Match": etag})
        assert refused.status_code == 422 and password not in refused.text
        assert refused.json()["error"]["details"]["layers"][4]["errors"][0]["field"] == "sources[0].url"
        # ... and saved without the probe, its refresh fails at once.
        saved = save(admin, inline, refresh=True, probe=False)
        assert saved["warnings"][0]["field"] == "sources[0].url" and password not in json.dumps(saved)
        job = wait_for_job(admin, saved["refresh_jobs"][0], FINAL)
        assert job["state"] == "FAILED" and "credentials.secret" in job["error"]["message"], job
        status = status_of(admin, "inline")
        assert status["state"] == "error" and "credential" in status["error"]
        seen = admin.get(f"/api/jobs/{job['id']}").text + admin.get(f"/api/jobs/{job['id']}/events").text
        assert password not in seen + json.dumps(status) and password not in portal.log()
