"""Catalog over the API: listing, descriptors, semver order, and local import with validation and allowed roots."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import FIXTURE_CATALOG, PortalServer


@pytest.fixture
def scratch_catalog(tmp_path: Path) -> Iterator[Path]:
    """A writable catalog folder under the allowed fixture root (removed afterwards)."""
    folder = FIXTURE_CATALOG / "scratch" / tmp_path.name
    folder.mkdir(parents=True)
    yield folder
    shutil.rmtree(FIXTURE_CATALOG / "scratch")


def write_version(root: Path, item_id: str, version: str, extra: str = "", task: str | None = None) -> Path:
    folder = root / "items" / item_id / version
    folder.mkdir(parents=True)
    (folder / "manifest.yaml").write_text(
        f"id: {item_id}\nname: {item_id.title()}\nversion: {version}\nentrypoint: task.py\n{extra}"
    )
    (folder / "schema.json").write_text('{"type": "object"}')
    (folder / "task.py").write_text(task or f"def run(inputs):\n    return {{'version': '{version}'}}\n")
    return folder


def test_catalog_lists_examples_with_versions(viewer: httpx.Client) -> None:
    page = viewer.get("/api/catalog").json()
    items = {item["id"]: item for item in page["items"]}
    assert {"backup-config", "system-health-check", "user-registration", "example-long-task"} <= set(items)
    assert items["backup-config"]["versions"] == ["2.0.0", "1.0.0"]
    assert items["backup-config"]["latest_version"] == "2.0.0"
    assert page["total"] == len(page["items"])
    found = viewer.get("/api/catalog", params={"q": "backup"}).json()["items"]
    assert [item["id"] for item in found] == ["backup-config"]
    assert viewer.get("/api/catalog", params={"category": "network"}).json()["total"] >= 1


def test_descriptor_latest_and_explicit(viewer: httpx.Client) -> None:
    latest = viewer.get("/api/catalog/backup-config/latest/descriptor").json()
    assert latest["version"] == "2.0.0"
    assert latest["schema"]["type"] == "object" and "ui:order" in latest["ui_schema"]
    assert latest["readme"]
    old = viewer.get("/api/catalog/backup-config/1.0.0/descriptor").json()
    assert old["version"] == "1.0.0"
    assert viewer.get("/api/catalog/backup-config/3.0.0/descriptor").status_code == 404
    assert viewer.get("/api/catalog/nothing/latest/descriptor").status_code == 404
    versions = viewer.get("/api/catalog/backup-config/versions").json()
    assert [v["version"] for v in versions] == ["2.0.0", "1.0.0"]
    assert versions[0]["source"]["type"] == "local" and len(versions[0]["bundle_sha256"]) == 64
    assert [v["deprecated"] for v in versions] == [None, "Use 2.0.0: it adds compression, encryption and schedules."]


def test_import_semver_order_and_idempotence(
    publisher: httpx.Client, requester: httpx.Client, scratch_catalog: Path
) -> None:
    for version in ["2.0.0", "10.0.0", "9.1.0", "11.0.0-rc.1"]:
        write_version(scratch_catalog, "semver-demo", version)
    first = publisher.post("/api/catalog/local/import", json={"path": str(scratch_catalog)})
    assert first.status_code == 200, first.text
    assert {v["outcome"] for v in first.json()["imported"]} == {"imported"}
    again = publisher.post("/api/catalog/local/import", json={"path": str(scratch_catalog)})
    assert {v["outcome"] for v in again.json()["imported"]} == {"unchanged"}
    item = next(i for i in requester.get("/api/catalog").json()["items"] if i["id"] == "semver-demo")
    assert item["versions"] == ["11.0.0-rc.1", "10.0.0", "9.1.0", "2.0.0"]
    assert item["latest_version"] == "10.0.0"
    job = requester.post("/api/jobs", json={"item_id": "semver-demo", "inputs": {}}).json()
    assert job["item_version"] == "10.0.0"


def test_changed_content_for_same_version_is_409(publisher: httpx.Client, scratch_catalog: Path) -> None:
    folder = write_version(scratch_catalog, "conflict-demo", "1.0.0")
    assert publisher.post("/api/catalog/local/import", json={"path": str(scratch_catalog)}).status_code == 200
    (folder / "task.py").write_text("def run(inputs):\n    return 'changed'\n")
    conflict = publisher.post("/api/catalog/local/import", json={"path": str(scratch_catalog)})
    assert conflict.status_code == 409
    assert conflict.json()["error"]["details"]["version"] == "1.0.0"


def test_invalid_items_are_reported_at_once_and_nothing_registered(
    publisher: httpx.Client, viewer: httpx.Client, scratch_catalog: Path
) -> None:
    write_version(scratch_catalog, "good-one", "1.0.0")
    write_version(scratch_catalog, "bad-keys", "1.0.0", extra="colour: blue\n")
    bad_schema = write_version(scratch_catalog, "bad-schema", "1.0.0")
    (bad_schema / "schema.json").write_text('{"type": "objekt"}')
    write_version(scratch_catalog, "bad-task", "1.0.0", task="def run(inputs:\n")
    response = publisher.post("/api/catalog/local/import", json={"path": str(scratch_catalog)})
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    by_file = {(d["file"], d["line"]): d["message"] for d in details}
    assert by_file[("items/bad-keys/1.0.0/manifest.yaml", 5)] == "unknown key 'colour'"
    assert any(f == "items/bad-schema/1.0.0/schema.json" for f, _ in by_file)
    assert any(f == "items/bad-task/1.0.0/task.py" and line == 1 for f, line in by_file)
    ids = {i["id"] for i in viewer.get("/api/catalog").json()["items"]}
    assert "good-one" not in ids


def test_local_preview_reports_every_problem_and_registers_nothing(
    publisher: httpx.Client, requester: httpx.Client, viewer: httpx.Client, scratch_catalog: Path
) -> None:
    write_version(scratch_catalog, "preview-good", "1.0.0")
    write_version(scratch_catalog, "preview-bad", "1.0.0", extra="colour: blue\n")
    report = publisher.post("/api/catalog/local/validate", json={"path": str(scratch_catalog)})
    assert report.status_code == 200
    body = report.json()
    assert body["valid"] is False
    by_item = {v["item_id"]: v["problems"] for v in body["versions"]}
    assert by_item["preview-good"] == []
    assert by_item["preview-bad"] == [
        {"file": "items/preview-bad/1.0.0/manifest.yaml", "line": 5, "message": "unknown key 'colour'"}
    ]
    ids = {i["id"] for i in viewer.get("/api/catalog").json()["items"]}
    assert not ids & {"preview-good", "preview-bad"}
    assert requester.post("/api/catalog/local/validate", json={"path": str(scratch_catalog)}).status_code == 403
    outside = publisher.post("/api/catalog/local/validate", json={"path": "/etc"})
    assert outside.status_code == 403


def test_missing_manifest_field(publisher: httpx.Client, scratch_catalog: Path) -> None:
    folder = scratch_catalog / "items" / "no-name" / "1.0.0"
    folder.mkdir(parents=True)
    (folder / "manifest.yaml").write_text("id: no-name\nversion: 1.0.0\nentrypoint: task.py\n")
    (folder / "schema.json").write_text('{"type": "object"}')
    (folder / "task.py").write_text("def run(inputs):\n    return 1\n")
    response = publisher.post("/api/catalog/local/import", json={"path": str(folder)})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["message"] == "missing required key 'name'"


def test_paths_outside_allowed_roots_are_forbidden(publisher: httpx.Client, tmp_path: Path) -> None:
    write_version(tmp_path, "outsider", "1.0.0")
    response = publisher.post("/api/catalog/local/import", json={"path": str(tmp_path)})
    assert response.status_code == 403 and response.json()["error"]["details"]["field"] == "path"
    sneaky = publisher.post("/api/catalog/local/import", json={"path": f"{FIXTURE_CATALOG}/../../../../etc"})
    assert sneaky.status_code == 403
    missing = publisher.post("/api/catalog/local/import", json={"path": f"{FIXTURE_CATALOG}/no-such-folder"})
    assert missing.status_code == 404
    nul = publisher.post("/api/catalog/local/import", json={"path": f"{FIXTURE_CATALOG}/\u0000x"})
    assert nul.status_code == 422 and nul.json()["error"]["details"][0]["field"] == "path"
    relative_escape = publisher.post("/api/catalog/local/validate", json={"path": "../../../../etc"})
    assert relative_escape.status_code == 403  # relative to a root, it still may not leave it
    for long_name in ("0" * 4000, "/".join(["x" * 250] * 16)):  # a name, or a path, too long: was a 500
        too_long = publisher.post("/api/catalog/local/validate", json={"path": long_name})
        assert too_long.status_code in (404, 422), too_long.text
        assert too_long.json()["error"]["details"], too_long.text


def test_the_allowed_roots_are_listed_and_a_path_may_be_relative_to_one(
    publisher: httpx.Client, requester: httpx.Client
) -> None:
    roots = publisher.get("/api/catalog/local/roots").json()["roots"]
    assert str(FIXTURE_CATALOG.resolve()) in roots and all(Path(root).is_absolute() for root in roots)
    assert requester.get("/api/catalog/local/roots").status_code == 403
    checked = publisher.post("/api/catalog/local/validate", json={"path": "items/chatty"})
    assert checked.status_code == 200 and checked.json()["valid"], checked.text


def test_symlinks_cannot_reach_outside_the_allowed_roots(
    publisher: httpx.Client, viewer: httpx.Client, scratch_catalog: Path, tmp_path: Path
) -> None:
    outside = write_version(tmp_path, "escaped", "1.0.0").parent
    (scratch_catalog / "items").mkdir(parents=True, exist_ok=True)
    (scratch_catalog / "items" / "escaped").symlink_to(outside)
    response = publisher.post("/api/catalog/local/import", json={"path": str(scratch_catalog)})
    assert response.status_code == 403
    assert "escaped" not in {i["id"] for i in viewer.get("/api/catalog").json()["items"]}


def test_import_is_audited(admin: httpx.Client, publisher: httpx.Client, scratch_catalog: Path) -> None:
    write_version(scratch_catalog, "audited-item", "1.0.0")
    assert publisher.post("/api/catalog/local/import", json={"path": str(scratch_catalog)}).status_code == 200
    entries = admin.get("/api/admin/audit", params={"action": "catalog.import", "actor": "pub1"}).json()["items"]
    assert any(e["target_id"] == "audited-item@1.0.0" for e in entries)


def test_cli_import_local(server: PortalServer, tmp_path: Path, viewer: httpx.Client) -> None:
    write_version(tmp_path, "cli-item", "0.1.0")
    result = server.cli("catalog", "import-local", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "imported" in result.stdout and "cli-item 0.1.0" in result.stdout
    assert viewer.get("/api/catalog/cli-item/latest/descriptor").json()["version"] == "0.1.0"
    bad = tmp_path / "bad"
    write_version(bad, "cli-bad", "1.0.0", extra="unknown: 1\n")
    failed = server.cli("catalog", "import-local", str(bad))
    assert failed.returncode == 1 and "unknown key 'unknown'" in failed.stderr


def test_catalog_run_prints_events_and_result(server: PortalServer, tmp_path: Path) -> None:
    folder = write_version(
        tmp_path,
        "runnable",
        "1.0.0",
        task="def run(inputs, progress_callback):\n    print('hello')\n"
        "    progress_callback(50, 'half')\n    return {'n': inputs.get('n', 0)}\n",
    )
    result = server.cli("catalog", "run", str(folder), "--inputs", '{"n": 3}')
    assert result.returncode == 0, result.stderr
    assert "stdout | hello" in result.stdout and "[ 50%] half" in result.stdout
    assert result.stdout.rstrip().endswith('"n": 3\n}')
    failing = write_version(tmp_path, "failing", "1.0.0", task="def run(inputs):\n    raise ValueError('nope')\n")
    failed = server.cli("catalog", "run", str(failing))
    assert failed.returncode == 1 and "FAILED ValueError: nope" in failed.stdout
    bad_inputs = server.cli("catalog", "run", str(folder), "--inputs", "[1]")
    assert bad_inputs.returncode == 2 and "must be a JSON object" in bad_inputs.stderr


def test_catalog_list_pages_after_filtering(viewer: httpx.Client) -> None:
    everything = viewer.get("/api/catalog").json()
    first = viewer.get("/api/catalog", params={"page_size": 2}).json()
    second = viewer.get("/api/catalog", params={"page_size": 2, "page": 2}).json()
    assert first["total"] == second["total"] == everything["total"] >= 4
    assert [i["id"] for i in first["items"] + second["items"]] == [i["id"] for i in everything["items"][:4]]
    tagged = viewer.get("/api/catalog", params={"tag": "backup"}).json()
    assert [i["id"] for i in tagged["items"]] == ["backup-config"] and tagged["total"] == 1
