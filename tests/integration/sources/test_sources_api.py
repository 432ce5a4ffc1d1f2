"""The sources API of a real `portal serve`: ETag and If-Match (428, 409), validation answers for JSON and YAML
(with lines), revisions, diff and rollback, redaction in every body and in the audit log, the probe of a private
repository over HTTP with a token (`git http-backend` behind a local server that demands it), the CLI's
apply/export round trip, and the seed from PORTAL_SOURCES_FILE."""

from __future__ import annotations

import base64
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import FIXTURE_CATALOG, PortalServer, git, wait_for_job

TOKEN = "glpat-" + "Qq1Ww2Ee3Rr4Tt5Yy6Uu"
PASSWORD = "hunter2-" + "s3cr3t"


class _GitHandler(BaseHTTPRequestHandler):
    """Smart HTTP for `git ls-remote`/fetch through git http-backend, for a client presenting the token."""

    root: Path
    seen_tokens: list[str]

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        supplied = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")[2] if auth else ""
        if supplied != TOKEN:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.end_headers()
            return
        self.seen_tokens.append(supplied)
        path, _, query = self.path.partition("?")
        env = {
            "GIT_PROJECT_ROOT": str(self.root), "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
            "QUERY_STRING": query, "REQUEST_METHOD": "GET", "REMOTE_USER": "probe", "PATH": "/usr/bin:/bin",
        }  # fmt: skip
        out = subprocess.run(["git", "http-backend"], env=env, capture_output=True, check=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line)
        self.send_response(int(headers.pop("Status", "200").split()[0]))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def private_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    root = tmp_path_factory.mktemp("git")
    work = root / "work"
    work.mkdir()
    git(work, "init", "-q")
    git(work, "commit", "-q", "--allow-empty", "-m", "first")
    git(work, "tag", "hello@1.0.0")
    git(root, "clone", "-q", "--bare", str(work), str(root / "catalog.git"))
    seen: list[str] = []
    handler = type("Handler", (_GitHandler,), {"root": root, "seen_tokens": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/catalog.git", seen
    httpd.shutdown()


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    server = PortalServer(tmp_path_factory.mktemp("sources"), {"PORTAL_GIT_ALLOW_HTTP": "true"}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def admin(portal: PortalServer) -> Iterator[httpx.Client]:
    with portal.client(portal.token_for("admin")) as client:
        yield client


def doc(*sources: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "portal/v1", "kind": "CatalogSources", "sources": list(sources)}


FOLDER = {"id": "fixtures", "type": "folder", "path": str(FIXTURE_CATALOG)}


def test_probe_of_a_private_repository_over_http_with_a_token(admin: httpx.Client, private_repo: Any) -> None:
    url, seen = private_repo
    assert admin.post("/api/admin/secrets", json={"name": "CATALOG_TOKEN", "value": TOKEN}).status_code == 201
    source = {"id": "private", "type": "git", "url": url, "credentials": {"secret": "CATALOG_TOKEN"}}
    answer = admin.post("/api/admin/sources/validate?probe=true", json=doc(source)).json()
    assert answer["valid"], answer
    assert [layer["valid"] for layer in answer["layers"]] == [True] * 5 and seen == [TOKEN]
    without = admin.post("/api/admin/sources/validate?probe=true", json=doc({**source, "credentials": None})).json()
    assert not without["valid"] and without["errors"][0]["field"] == "sources[0].url"
    assert TOKEN not in str(without)
    # A save probes each new or changed enabled source: one that does not answer is refused, unless probe=false.
    etag = admin.get("/api/admin/sources").headers["ETag"]
    refused = admin.put("/api/admin/sources", json=doc({**source, "credentials": None}), headers={"If-Match": etag})
    assert refused.status_code == 422 and refused.json()["error"]["details"]["layers"][4]["layer"] == "probe"
    unprobed = {**source, "credentials": None, "enabled": False}
    assert admin.put("/api/admin/sources", json=doc(unprobed), headers={"If-Match": etag}).status_code == 200


def test_refresh_of_a_private_repository_over_http_with_a_token(admin: httpx.Client, private_repo: Any) -> None:
    url, seen = private_repo
    if admin.get("/api/admin/secrets").text.find("CATALOG_TOKEN") < 0:
        assert admin.post("/api/admin/secrets", json={"name": "CATALOG_TOKEN", "value": TOKEN}).status_code == 201
    source = {"id": "private", "type": "git", "url": url, "credentials": {"secret": "CATALOG_TOKEN"}, "poll_seconds": 0}
    etag = admin.get("/api/admin/sources").headers["ETag"]
    before = len(seen)
    saved = admin.put("/api/admin/sources?refresh=true", json=doc(source), headers={"If-Match": etag}).json()
    job = wait_for_job(admin, saved["refresh_jobs"][0], ("SUCCEEDED", "FAILED"))
    assert job["state"] == "SUCCEEDED", job
    # The tag lists and fetches with the token (the commit holds no item, so its one version fails).
    assert len(seen) - before >= 2 and set(seen) == {TOKEN}
    read = admin.get("/api/admin/sources")
    status = read.json()["sources"][0]["status"]
    assert status["versions_failed"] == 1 and status["problems"][0]["item_id"] == "hello", status
    assert TOKEN not in read.text and TOKEN not in admin.get(f"/api/jobs/{job['id']}").text


def test_yaml_validation_names_the_unknown_field_and_its_line(admin: httpx.Client) -> None:
    text = "apiVersion: portal/v1\nkind: CatalogSources\nsources:\n  - id: a\n    type: folder\n    path: x\n"
    text += "    dev: true\n"
    response = admin.post("/api/admin/sources/validate", content=text, headers={"Content-Type": "application/yaml"})
    assert response.status_code == 200
    assert response.json()["errors"] == [{"field": "sources[0].dev", "line": 7, "message": "unknown field 'dev'"}]
    # A save in YAML (GitOps: the file as it is) is refused the same way, with the line.
    etag = admin.get("/api/admin/sources").headers["ETag"]
    headers = {"Content-Type": "application/yaml", "If-Match": etag}
    refused = admin.put("/api/admin/sources", content=text, headers=headers)
    assert refused.status_code == 422 and refused.json()["error"]["details"]["errors"][0]["line"] == 7, refused.text
    broken = admin.post("/api/admin/sources/validate", content=b"{nope", headers={"Content-Type": "application/json"})
    assert broken.status_code == 200 and broken.json()["layers"][0] == {
        "layer": "parse", "valid": False, "note": None,
        "errors": [{"field": "(document)", "line": 1, "message": broken.json()["errors"][0]["message"]}],
    }  # fmt: skip


def test_save_contract_etag_428_409_422(admin: httpx.Client, portal: PortalServer) -> None:
    read = admin.get("/api/admin/sources")
    etag = read.headers["ETag"]
    assert read.json()["etag"] == etag and etag.startswith('"')
    no_match = admin.put("/api/admin/sources", json=doc(FOLDER))
    assert no_match.status_code == 428 and no_match.json()["error"]["code"] == "precondition_required"
    invalid = admin.put("/api/admin/sources", json=doc({**FOLDER, "id": "Nope"}), headers={"If-Match": etag})
    assert invalid.status_code == 422 and invalid.json()["error"]["details"]["errors"][0]["field"] == "sources[0].id"
    saved = admin.put("/api/admin/sources?message=first", json=doc(FOLDER), headers={"If-Match": etag})
    assert saved.status_code == 200 and saved.json()["saved"] and saved.headers["ETag"] != etag
    before = admin.get("/api/admin/sources/revisions").json()["total"]
    stale = admin.put("/api/admin/sources", json=doc({**FOLDER, "poll_seconds": 0}), headers={"If-Match": etag})
    assert stale.status_code == 409 and "changed since it was read" in stale.json()["error"]["message"]
    assert stale.json()["error"]["details"]["etag"] == saved.headers["ETag"]
    assert admin.get("/api/admin/sources/revisions").json()["total"] == before
    current = admin.get("/api/admin/sources").json()
    assert current["sources"][0]["status"]["state"] == "available" and current["message"] == "first"
    assert current["sources"][0]["status"]["last_refresh_time"] is None  # never refreshed (the poll waits 300 s)
    # What GET answered may be sent back whole: its read-only members are dropped, not refused.
    again = admin.put("/api/admin/sources", json=current, headers={"If-Match": saved.headers["ETag"]})
    assert again.status_code == 200 and again.json()["saved"] is False, again.text


def test_revisions_diff_rollback_and_redaction(admin: httpx.Client, portal: PortalServer) -> None:
    etag = admin.get("/api/admin/sources").headers["ETag"]
    inline = {"id": "inline", "type": "git", "url": f"https://bob:{PASSWORD}@git.example.com/r.git", "enabled": False}
    answer = admin.post("/api/admin/sources/validate", json=doc(FOLDER, inline)).json()
    assert answer["valid"] and answer["warnings"][0]["field"] == "sources[1].url" and PASSWORD not in str(answer)
    saved = admin.put("/api/admin/sources", json=doc(FOLDER, inline), headers={"If-Match": etag})
    assert saved.status_code == 200 and PASSWORD not in saved.text
    new = saved.json()["current"]["revision"]
    read = admin.get("/api/admin/sources")
    assert PASSWORD not in read.text and read.json()["sources"][1]["status"]["state"] == "disabled"
    for path in ("/api/admin/sources/revisions", f"/api/admin/sources/revisions/{new}",
                 f"/api/admin/sources/revisions/{new}/diff"):  # fmt: skip
        response = admin.get(path)
        assert response.status_code == 200 and PASSWORD not in response.text, path
    diff = admin.get(f"/api/admin/sources/revisions/{new}/diff").json()
    assert diff["against"] == new - 1 and diff["changes"][0]["field"] == "sources[inline]"
    assert "+  url: https://bob:***@git.example.com/r.git" in diff["unified"]
    audit = admin.get("/api/admin/audit", params={"action": "sources.update"})
    assert audit.status_code == 200 and "sources.update" in audit.text and PASSWORD not in audit.text
    no_match = admin.post(f"/api/admin/sources/revisions/{new - 1}/rollback")
    assert no_match.status_code == 428
    rolled = admin.post(f"/api/admin/sources/revisions/{new - 1}/rollback", headers={"If-Match": read.headers["ETag"]})
    assert rolled.status_code == 200 and rolled.json()["current"]["revision"] == new + 1
    old = admin.get(f"/api/admin/sources/revisions/{new - 1}").json()["document"]
    assert admin.get(f"/api/admin/sources/revisions/{new + 1}").json()["document"] == old
    assert admin.get("/api/admin/sources/revisions/999999").status_code == 404


def test_only_admins(portal: PortalServer) -> None:
    with portal.client() as anonymous:
        assert anonymous.get("/api/admin/sources").status_code == 401


def test_cli_apply_export_round_trip(portal: PortalServer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: portal/v1\nkind: CatalogSources\nsources:\n  - id: x\n    type: folder\n    pth: a\n")
    result = portal.cli("sources", "apply", str(bad))
    assert result.returncode == 1
    assert "sources[0].pth (line 6): unknown field 'pth'" in result.stderr
    assert "sources[0].path (line 4): required" in result.stderr
    good = tmp_path / "sources.yaml"
    good.write_text(f"apiVersion: portal/v1\nkind: CatalogSources\nsources:\n  - id: cli\n    type: folder\n"
                    f"    path: {FIXTURE_CATALOG}\n    poll_seconds: 0\n")  # fmt: skip
    applied = portal.cli("sources", "apply", str(good), "--message", "from git")
    assert applied.returncode == 0 and "saved as revision" in applied.stdout, applied.stderr
    exported = portal.cli("sources", "export")
    assert exported.returncode == 0 and "id: cli" in exported.stdout and "poll_seconds: 0" in exported.stdout
    (tmp_path / "exported.yaml").write_text(exported.stdout)
    again = portal.cli("sources", "apply", str(tmp_path / "exported.yaml"))
    assert again.returncode == 0 and "unchanged" in again.stdout


def test_seed_from_sources_file_at_first_start(tmp_path: Path) -> None:
    seed = tmp_path / "sources.yaml"
    seed.write_text(f"apiVersion: portal/v1\nkind: CatalogSources\nsources:\n  - id: seeded\n    type: folder\n"
                    f"    path: {FIXTURE_CATALOG}\n")  # fmt: skip
    server = PortalServer(tmp_path / "data", {"PORTAL_SOURCES_FILE": str(seed)}).start()
    try:
        with server.client(server.token_for("admin")) as admin:
            read = admin.get("/api/admin/sources").json()
            assert read["revision"] == 1 and read["sources"][0]["id"] == "seeded" and read["author"] == "system"
    finally:
        server.stop()
    seed.write_text("apiVersion: portal/v1\nkind: CatalogSources\nsources:\n  - id: Bad\n")
    broken = PortalServer(tmp_path / "data2", {"PORTAL_SOURCES_FILE": str(seed)}).start()
    try:
        with broken.client(broken.token_for("admin")) as admin:
            assert admin.get("/api/admin/sources").json()["revision"] is None
        assert "PORTAL_SOURCES_FILE" in broken.log() and "not valid" in broken.log()
    finally:
        broken.stop()
