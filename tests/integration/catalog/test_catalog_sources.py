"""Catalog sources against real ones: a Git repository with tags, signed webhooks, uploads (hostile ones too),
the validation preview, bundle downloads, replacing, development versions and the original portal's registry."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.helpers import PortalServer, git, item_files, targz, upload, wait_for_job, write

SECRET = "webhook-secret"
UPLOAD_LIMIT = 256 * 1024


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real Git repository: demo-git 1.0.0 and 1.1.0 tagged, a broken 2.0.0 tagged, main at 1.1.0+."""
    path = tmp_path_factory.mktemp("repo")
    git(path, "init", "-q", "-b", "main")
    write(path / "items" / "demo-git", item_files("demo-git", "1.0.0", "one"))
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "1.0.0")
    git(path, "tag", "demo-git@1.0.0")
    write(path / "items" / "demo-git", item_files("demo-git", "1.1.0", "one-one"))
    git(path, "commit", "-q", "-am", "1.1.0")
    git(path, "tag", "demo-git@1.1.0")
    write(path / "items" / "demo-git", item_files("demo-git", "2.0.0", "two", extra_manifest="colour: red\n"))
    git(path, "commit", "-q", "-am", "broken 2.0.0")
    git(path, "tag", "demo-git@2.0.0")
    write(path / "items" / "demo-git", item_files("demo-git", "1.2.0", "head"))
    git(path, "commit", "-q", "-am", "main moves on")
    return path


@pytest.fixture(scope="module")
def source_server(tmp_path_factory: pytest.TempPathFactory, repo: Path) -> Iterator[PortalServer]:
    local_root = tmp_path_factory.mktemp("local-root")
    server = PortalServer(
        tmp_path_factory.mktemp("portal-sources"),
        env={
            "PORTAL_GIT_ALLOW_FILE": "true",
            "PORTAL_GIT_WEBHOOK_SECRET": SECRET,
            "PORTAL_GIT_WEBHOOK_REPOS": f"file://{repo}",
            "PORTAL_CATALOG_UPLOAD_MAX_BYTES": str(UPLOAD_LIMIT),
            "PORTAL_CATALOG_MAX_MEMBERS": "50",
            "PORTAL_CATALOG_MAX_UNPACKED_BYTES": str(2 * 1024 * 1024),
            "PORTAL_CATALOG_LOCAL_ROOTS": str(local_root),
        },
    )
    server.local_root = local_root  # type: ignore[attr-defined]
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def clients(source_server: PortalServer) -> dict[str, httpx.Client]:
    admin = source_server.client(source_server.token_for("admin"))
    out = {"admin": admin}
    for name, role in [("pub", "publisher"), ("req", "requester")]:
        assert (
            admin.post("/api/admin/users", json={"username": name, "role": role, "password": PASSWORD}).status_code
            == 201
        )
        out[name] = source_server.client(source_server.token_for(name))
    return out


def catalog_versions(client: httpx.Client, item_id: str) -> dict[str, dict[str, Any]]:
    response = client.get(f"/api/catalog/{item_id}/versions")
    return {} if response.status_code == 404 else {v["version"]: v for v in response.json()}


# --- Git -----------------------------------------------------------------------------------------------------


def test_git_import_of_a_tag_runs_as_a_job(clients: dict[str, httpx.Client], repo: Path) -> None:
    pub = clients["pub"]
    response = pub.post(
        "/api/catalog/git/import", json={"repo_url": f"file://{repo}", "item_id": "demo-git", "version": "1.0.0"}
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["kind"] == "catalog_import" and job["state"] == "QUEUED"
    done = wait_for_job(pub, job["id"], {"SUCCEEDED", "FAILED"})
    assert done["state"] == "SUCCEEDED", done["error"]
    commit = git(repo, "rev-list", "-n", "1", "demo-git@1.0.0").strip()
    assert done["result"]["commit"] == commit
    steps = [e["message"] for e in done["events"] if e["kind"] == "step"]
    assert any(m.startswith("cloning") for m in steps) and any(m.startswith("validating") for m in steps)
    version = catalog_versions(pub, "demo-git")["1.0.0"]
    assert version["source"] == {
        "type": "git",
        "repo_url": f"file://{repo}",
        "ref": "refs/tags/demo-git@1.0.0",
        "commit": commit,
        "path": "items/demo-git",
    }
    assert version["imported_by"] == "pub"
    listed = pub.get("/api/jobs", params={"q": "demo-git"}).json()["items"]
    assert job["id"] in [j["id"] for j in listed]
    run = clients["req"].post("/api/jobs", json={"item_id": "demo-git", "version": "1.0.0", "inputs": {}})
    assert wait_for_job(clients["req"], run.json()["id"], {"SUCCEEDED"})["result"]["result"] == "one"


def test_git_import_of_a_branch_takes_the_manifest_version(clients: dict[str, httpx.Client], repo: Path) -> None:
    pub = clients["pub"]
    job = pub.post(
        "/api/catalog/git/import", json={"repo_url": f"file://{repo}", "item_id": "demo-git", "ref": "main"}
    ).json()
    done = wait_for_job(pub, job["id"], {"SUCCEEDED", "FAILED"})
    assert done["state"] == "SUCCEEDED", done["error"]
    assert [v["version"] for v in done["result"]["imported"]] == ["1.2.0"]


def test_git_failures_fail_the_job_and_change_nothing(clients: dict[str, httpx.Client], repo: Path) -> None:
    pub = clients["pub"]
    before = catalog_versions(pub, "demo-git")
    missing = pub.post(
        "/api/catalog/git/import", json={"repo_url": f"file://{repo}", "item_id": "demo-git", "version": "9.9.9"}
    ).json()
    failed = wait_for_job(pub, missing["id"], {"SUCCEEDED", "FAILED"})
    assert failed["state"] == "FAILED" and failed["error"]["type"] == "git_failed"
    broken = pub.post(
        "/api/catalog/git/import", json={"repo_url": f"file://{repo}", "item_id": "demo-git", "version": "2.0.0"}
    ).json()
    invalid = wait_for_job(pub, broken["id"], {"SUCCEEDED", "FAILED"})
    assert invalid["state"] == "FAILED" and invalid["error"]["type"] == "validation_failed"
    assert any("unknown key 'colour'" in p["message"] for p in invalid["error"]["details"])
    assert catalog_versions(pub, "demo-git") == before


def test_git_requests_are_checked_before_queueing(clients: dict[str, httpx.Client], repo: Path) -> None:
    pub = clients["pub"]
    for body, field in [
        ({"repo_url": "ext::sh -c touch% /tmp/pwned", "item_id": "demo-git", "version": "1.0.0"}, "repo_url"),
        ({"repo_url": f"file://{repo}", "item_id": "demo-git", "ref": "--upload-pack=touch /tmp/x"}, "ref"),
        ({"repo_url": f"file://{repo}", "item_id": "Demo Git", "version": "1.0.0"}, "item_id"),
        ({"repo_url": f"file://{repo}", "item_id": "demo-git", "version": "one"}, "version"),
        ({"repo_url": f"file://{repo}", "item_id": "demo-git"}, "version"),
        # Not encrypted: whoever is on the way could swap the code the portal then runs.
        ({"repo_url": "http://git.example.com/ops/catalog.git", "item_id": "demo-git", "version": "1.0.0"}, "repo_url"),
        ({"repo_url": "git://git.example.com/ops/catalog.git", "item_id": "demo-git", "version": "1.0.0"}, "repo_url"),
    ]:
        response = pub.post("/api/catalog/git/import", json=body)
        assert response.status_code == 422, body
        assert field in {d["field"] for d in response.json()["error"]["details"]}
    assert (
        clients["req"]
        .post("/api/catalog/git/import", json={"repo_url": f"file://{repo}", "item_id": "x", "version": "1.0.0"})
        .status_code
        == 403
    )


# --- webhooks -------------------------------------------------------------------------------------------------


def github(
    server: PortalServer, payload: dict[str, Any], secret: str = SECRET, event: str = "push", signed: bool = True
) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {"X-GitHub-Event": event, "Content-Type": "application/json"}
    if signed:
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return httpx.post(f"{server.url}/api/catalog/git/webhook", content=body, headers=headers)


def test_signed_github_tag_push_imports(
    source_server: PortalServer, clients: dict[str, httpx.Client], repo: Path
) -> None:
    response = github(source_server, {"ref": "refs/tags/demo-git@1.1.0", "repository": {"clone_url": f"file://{repo}"}})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["provider"] == "github" and len(body["accepted"]) == 1
    job = wait_for_job(clients["admin"], body["accepted"][0], {"SUCCEEDED", "FAILED"})
    assert job["state"] == "SUCCEEDED", job["error"]
    assert job["created_by_name"] == "webhook:github"
    assert "1.1.0" in catalog_versions(clients["admin"], "demo-git")


def test_who_pushed_a_tag_cannot_review_what_the_webhook_imported(
    source_server: PortalServer, clients: dict[str, httpx.Client], repo: Path
) -> None:
    admin, pub = clients["admin"], clients["pub"]

    def push(version: str) -> dict[str, Any]:
        write(repo / "items" / "pushed-git", item_files("pushed-git", version, version))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"pushed-git {version}")
        git(repo, "tag", f"pushed-git@{version}")
        payload = {
            "ref": f"refs/tags/pushed-git@{version}",
            "repository": {"clone_url": f"file://{repo}"},
            "sender": {"login": "pub"},
        }
        response = github(source_server, payload)
        assert response.status_code == 202, response.text
        job = wait_for_job(admin, response.json()["accepted"][0], {"SUCCEEDED", "FAILED"})
        assert job["state"] == "SUCCEEDED", job["error"]
        return job

    assert push("1.0.0")["created_by_name"] == "webhook:github:pub"
    assert admin.patch("/api/admin/catalog/items/pushed-git", json={"review_policy": "required"}).status_code == 200
    push("1.1.0")
    review = "/api/admin/catalog/items/pushed-git/versions/1.1.0/review"
    refused = pub.post(review, json={"decision": "approve"})
    assert refused.status_code == 403, refused.text  # the pusher, though the webhook imported it
    assert [r["version"] for r in pub.get("/api/admin/catalog/reviews").json()["mine"]] == ["1.1.0"]
    approved = admin.post(review, json={"decision": "approve"})
    assert approved.status_code == 200 and approved.json()["state"] == "active"


def test_bad_webhooks_change_nothing(source_server: PortalServer, clients: dict[str, httpx.Client], repo: Path) -> None:
    admin = clients["admin"]
    before = admin.get("/api/jobs", params={"page_size": 1}).json()["total"]
    push = {"ref": "refs/tags/demo-git@1.0.0", "repository": {"clone_url": f"file://{repo}"}}
    assert github(source_server, push, secret="wrong").status_code == 401
    assert github(source_server, push, signed=False).status_code == 401
    unknown = {"ref": "refs/tags/demo-git@1.0.0", "repository": {"clone_url": "https://evil.example/x.git"}}
    assert github(source_server, unknown).status_code == 403
    gitlab_bad = httpx.post(
        f"{source_server.url}/api/catalog/git/webhook",
        content=json.dumps(push),
        headers={"X-Gitlab-Token": "nope", "X-Gitlab-Event": "Tag Push Hook"},
    )
    assert gitlab_bad.status_code == 401
    branch = github(source_server, {"ref": "refs/heads/main", "repository": {"clone_url": f"file://{repo}"}})
    assert branch.status_code == 202 and branch.json()["accepted"] == [] and branch.json()["ignored"]
    not_semver = github(source_server, {"ref": "refs/tags/v1", "repository": {"clone_url": f"file://{repo}"}})
    assert not_semver.json()["accepted"] == []
    assert github(source_server, {}, event="ping").status_code == 202
    assert admin.get("/api/jobs", params={"page_size": 1}).json()["total"] == before


def test_gitlab_tag_push_imports(source_server: PortalServer, clients: dict[str, httpx.Client], repo: Path) -> None:
    payload = {"ref": "refs/tags/demo-git@1.0.0", "after": "a" * 40, "project": {"git_http_url": f"file://{repo}/"}}
    response = httpx.post(
        f"{source_server.url}/api/catalog/git/webhook",
        content=json.dumps(payload),
        headers={"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Tag Push Hook"},
    )
    assert response.status_code == 202 and response.json()["provider"] == "gitlab"
    job = wait_for_job(clients["admin"], response.json()["accepted"][0], {"SUCCEEDED", "FAILED"})
    assert job["state"] == "SUCCEEDED"
    assert [v["outcome"] for v in job["result"]["imported"]] == ["unchanged"]


# --- uploads --------------------------------------------------------------------------------------------------


def test_upload_registers_and_is_idempotent(clients: dict[str, httpx.Client]) -> None:
    pub = clients["pub"]
    data = targz(item_files("uploaded", "1.0.0"), wrap="uploaded-1.0.0/")
    first = upload(pub, data)
    assert first.status_code == 200, first.text
    assert first.json()["imported"][0]["outcome"] == "imported"
    again = upload(pub, data)
    assert again.json()["imported"][0]["outcome"] == "unchanged"
    version = catalog_versions(pub, "uploaded")["1.0.0"]
    assert version["source"]["type"] == "upload" and version["source"]["filename"] == "bundle.tar.gz"
    assert version["source"]["upload_sha256"] == hashlib.sha256(data).hexdigest()
    download = pub.get("/api/catalog/uploaded/1.0.0/bundle")
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == version["bundle_sha256"]
    assert clients["req"].get("/api/catalog/uploaded/1.0.0/bundle").status_code == 403
    changed = upload(pub, targz(item_files("uploaded", "1.0.0", "different")))
    assert changed.status_code == 409


def hostile(kind: str) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, text in item_files("hostile", "1.0.0").items():
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
        info = tarfile.TarInfo(
            {
                "dotdot": "../../escape.py",
                "absolute": "/tmp/absolute.py",
                "symlink": "link",
                "hardlink": "hard",
                "fifo": "pipe",
                "many": "x0",
            }[kind]
        )
        if kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        elif kind == "hardlink":
            info.type, info.linkname = tarfile.LNKTYPE, "../../etc/passwd"
        elif kind == "fifo":
            info.type = tarfile.FIFOTYPE
        if info.type == tarfile.REGTYPE:
            tar.addfile(info, io.BytesIO(b""))
        else:
            tar.addfile(info)
        if kind == "many":
            for i in range(1, 60):
                tar.addfile(tarfile.TarInfo(f"x{i}"), io.BytesIO(b""))
    return raw.getvalue()


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink", "fifo", "many"])
def test_hostile_uploads_are_refused(clients: dict[str, httpx.Client], kind: str) -> None:
    response = upload(clients["pub"], hostile(kind))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith("bundle refused")
    assert catalog_versions(clients["pub"], "hostile") == {}


def test_bomb_and_oversized_and_garbage_uploads(clients: dict[str, httpx.Client]) -> None:
    pub = clients["pub"]
    bomb = targz({**item_files("bomb", "1.0.0"), "zeros.bin": b"\0" * (8 * 1024 * 1024)})
    assert len(bomb) < UPLOAD_LIMIT
    refused = upload(pub, bomb)
    assert refused.status_code == 422 and "unpacks to more than" in refused.json()["error"]["message"]
    too_big = upload(pub, b"x" * (UPLOAD_LIMIT + 1))
    assert too_big.status_code == 413
    garbage = upload(pub, b"this is not a tarball")
    assert garbage.status_code == 422
    assert catalog_versions(pub, "bomb") == {}


def test_validation_preview_reports_every_problem_and_registers_nothing(clients: dict[str, httpx.Client]) -> None:
    pub = clients["pub"]
    files = item_files("previewed", "1.0.0", extra_manifest="colour: blue\n")
    files["schema.json"] = '{"type": "object",\n "properties": {"a": {"type": "strnig"}}}'
    files["task.py"] = "def run(inputs:\n"
    report = upload(pub, targz(files), path="/api/catalog/validate").json()
    assert report["valid"] is False
    problems = {(p["file"], p["line"]) for p in report["versions"][0]["problems"]}
    assert ("manifest.yaml", 5) in problems and ("task.py", 1) in problems
    assert any(f == "schema.json" for f, _ in problems)
    good = upload(pub, targz(item_files("previewed", "1.0.0")), path="/api/catalog/validate").json()
    assert good["valid"] is True and good["versions"][0]["version"] == "1.0.0"
    hostile_report = upload(pub, hostile("dotdot"), path="/api/catalog/validate").json()
    assert hostile_report["valid"] is False and "unsafe member path" in hostile_report["problems"][0]["message"]
    assert catalog_versions(pub, "previewed") == {}


# --- replace, development, migration ------------------------------------------------------------------------


def test_replace_is_audited_and_old_jobs_keep_their_bundle(
    source_server: PortalServer, clients: dict[str, httpx.Client]
) -> None:
    pub, req, admin = clients["pub"], clients["req"], clients["admin"]
    root: Path = source_server.local_root  # type: ignore[attr-defined]
    folder = write(root / "replaceable" / "items" / "replaceable" / "1.0.0", item_files("replaceable", "1.0.0", "a"))
    assert pub.post("/api/catalog/local/import", json={"path": str(root / "replaceable")}).status_code == 200
    old_job = wait_for_job(
        req, req.post("/api/jobs", json={"item_id": "replaceable", "inputs": {}}).json()["id"], {"SUCCEEDED"}
    )
    write(folder, {"task.py": "def run(inputs):\n    return {'result': 'b'}\n"})
    assert pub.post("/api/catalog/local/import", json={"path": str(root / "replaceable")}).status_code == 409
    replaced = pub.post("/api/catalog/local/import", json={"path": str(root / "replaceable"), "replace": True})
    assert replaced.json()["imported"][0]["outcome"] == "replaced"
    new_job = wait_for_job(
        req, req.post("/api/jobs", json={"item_id": "replaceable", "inputs": {}}).json()["id"], {"SUCCEEDED"}
    )
    assert new_job["result"] == {"result": "b"} and old_job["result"]["result"] == "a"
    assert new_job["bundle_sha256"] != old_job["bundle_sha256"]
    assert req.get(f"/api/jobs/{old_job['id']}").json()["bundle_sha256"] == old_job["bundle_sha256"]
    entry = admin.get("/api/admin/audit", params={"action": "catalog.replace"}).json()["items"][0]
    assert entry["details"]["before"]["bundle_sha256"] == old_job["bundle_sha256"]
    assert entry["details"]["after"]["bundle_sha256"] == new_job["bundle_sha256"]


def test_development_versions_run_from_their_folder(
    source_server: PortalServer, clients: dict[str, httpx.Client]
) -> None:
    pub, req = clients["pub"], clients["req"]
    root: Path = source_server.local_root  # type: ignore[attr-defined]
    folder = write(root / "dev" / "items" / "dev-item" / "0.1.0", item_files("dev-item", "0.1.0", "first"))
    response = pub.post("/api/catalog/local/import", json={"path": str(root / "dev"), "development": True})
    assert response.status_code == 200, response.text
    first = wait_for_job(
        req, req.post("/api/jobs", json={"item_id": "dev-item", "inputs": {}}).json()["id"], {"SUCCEEDED"}
    )
    assert first["result"]["result"] == "first" and first["source_path"] == str(folder)
    write(folder, {"task.py": "def run(inputs):\n    return {'result': 'edited'}\n"})
    second = wait_for_job(
        req, req.post("/api/jobs", json={"item_id": "dev-item", "inputs": {}}).json()["id"], {"SUCCEEDED"}
    )
    assert second["result"]["result"] == "edited"
    assert not (folder / "__pycache__").exists()
    # A worker that cannot read the folder (another machine, or it is gone) says so instead of a vague failure.
    shutil.rmtree(folder)
    gone = wait_for_job(
        req, req.post("/api/jobs", json={"item_id": "dev-item", "inputs": {}}).json()["id"], {"SUCCEEDED", "FAILED"}
    )
    assert gone["state"] == "FAILED" and gone["error"]["type"] == "DevelopmentFolderUnavailable"


def test_a_development_version_gets_no_secret_even_when_granted(
    source_server: PortalServer, clients: dict[str, httpx.Client]
) -> None:
    """Its code is a folder anyone who can write there may change without an import: no grant may cover it."""
    pub, req, admin = clients["pub"], clients["req"], clients["admin"]
    root: Path = source_server.local_root  # type: ignore[attr-defined]
    files = item_files("dev-secret", "0.1.0", extra_manifest="secrets: [DEV_TOKEN]\n")
    write(root / "dev-secret" / "items" / "dev-secret" / "0.1.0", files)
    imported = pub.post("/api/catalog/local/import", json={"path": str(root / "dev-secret"), "development": True})
    assert imported.status_code == 200, imported.text
    body = {"name": "DEV_TOKEN", "value": "dev-t0ken-value", "items": ["dev-secret@*"]}
    assert admin.post("/api/admin/secrets", json=body).status_code == 201
    refused = req.post("/api/jobs", json={"item_id": "dev-secret", "inputs": {}})
    assert refused.status_code == 409 and "development version" in refused.json()["error"]["message"], refused.text
    assert admin.delete("/api/admin/secrets/DEV_TOKEN").status_code == 204


def test_migrate_json_is_idempotent(
    source_server: PortalServer, clients: dict[str, httpx.Client], tmp_path: Path
) -> None:
    bundles = tmp_path / "catalog_bundles"
    bundles.mkdir()
    (bundles / "legacy-item@1.0.0.tar.gz").write_bytes(targz(item_files("legacy-item", "1.0.0", "old")))
    only_task = {"task.py": "def run(inputs):\n    return {'result': 'from registry'}\n"}
    (bundles / "legacy-item@2.0.0.tar.gz").write_bytes(targz(only_task))
    (bundles / "broken@1.0.0.tar.gz").write_bytes(hostile("dotdot"))
    manifest2 = {"id": "legacy-item", "name": "Legacy", "version": "2.0.0", "entrypoint": "task.py"}
    registry = {
        "items": {
            "legacy-item": {
                "versions": {
                    "1.0.0": {
                        "storage_uri": "/app/data/catalog_bundles/legacy-item@1.0.0.tar.gz",
                        "active": False,
                        "source": {"repo": "https://old.example/repo", "ref": "legacy-item@1.0.0"},
                    },
                    "2.0.0": {
                        "manifest": manifest2,
                        "schema": {"type": "object"},
                        "ui": {"ui:order": ["*"]},
                        "storage_uri": "/app/data/catalog_bundles/legacy-item@2.0.0.tar.gz",
                        "active": True,
                    },
                }
            },
            "broken": {"versions": {"1.0.0": {"storage_uri": "broken@1.0.0.tar.gz"}}},
            "missing": {"versions": {"1.0.0": {"storage_uri": "nowhere.tar.gz"}}},
        }
    }
    path = tmp_path / "catalog_registry.json"
    path.write_text(json.dumps(registry))
    first = source_server.cli("catalog", "migrate-json", str(path), str(bundles))
    assert first.returncode == 1  # two versions could not be migrated, and it says so
    assert "imported   legacy-item@1.0.0" in first.stdout and "imported   legacy-item@2.0.0" in first.stdout
    assert "failed     broken@1.0.0: bundle refused" in first.stdout
    assert "failed     missing@1.0.0: no bundle" in first.stdout
    versions = catalog_versions(clients["admin"], "legacy-item")
    assert versions["1.0.0"]["status"] == "archived" and versions["2.0.0"]["status"] == "active"
    assert versions["1.0.0"]["source"]["original_source"]["repo"] == "https://old.example/repo"
    descriptor = clients["admin"].get("/api/catalog/legacy-item/latest/descriptor").json()
    assert descriptor["version"] == "2.0.0" and descriptor["ui_schema"] == {"ui:order": ["*"]}
    second = source_server.cli("catalog", "migrate-json", str(path), str(bundles))
    assert "unchanged  legacy-item@1.0.0" in second.stdout and "unchanged  legacy-item@2.0.0" in second.stdout
    assert "2 unchanged" in second.stdout
