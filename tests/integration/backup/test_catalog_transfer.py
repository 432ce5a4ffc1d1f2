"""The catalog export of one portal imported into another: versions, lifecycle, channels and metadata come along,
a dry run changes nothing, a second import changes nothing, a version that differs here is kept, and a damaged
export is refused."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import PortalServer

ITEM = "backup-config"


def _export(admin: httpx.Client, **params: str) -> bytes:
    response = admin.get("/api/admin/catalog/export", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-tar"
    return response.content


def _import(admin: httpx.Client, archive: bytes, dry_run: bool = False) -> dict[str, Any]:
    response = admin.post(
        "/api/admin/catalog/import",
        files={"file": ("export.tar", archive, "application/x-tar")},
        data={"dry_run": "true" if dry_run else "false"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _catalog_state(admin: httpx.Client) -> dict[str, Any]:
    """Every item's versions (state and bundle), channels and settings, as the admin API shows them."""
    items = admin.get("/api/admin/catalog/items", params={"page_size": 200}).json()["items"]
    state: dict[str, Any] = {}
    for item in items:
        detail = admin.get(f"/api/admin/catalog/items/{item['id']}").json()
        state[item["id"]] = {
            "versions": {v["version"]: (v["state"], v["bundle_sha256"]) for v in detail["versions"]},
            "channels": {v["version"]: sorted(v["channels"]) for v in detail["versions"]},
            "notice": detail["notice"],
            "overrides": detail["overrides"],
        }
    return state


def test_export_then_import_into_another_portal(tmp_path: Path) -> None:
    source = PortalServer(tmp_path / "source").start()
    target = PortalServer(tmp_path / "target", env={"PORTAL_CATALOG_LOAD_EXAMPLES": "false"}).start()
    try:
        with source.client(source.token_for("admin")) as a, target.client(target.token_for("admin")) as b:
            assert (
                a.patch(f"/api/admin/catalog/items/{ITEM}", json={"notice": "moved", "tags": ["ops"]}).status_code
                == 200
            )
            assert (
                a.put(f"/api/admin/catalog/items/{ITEM}/channels/stable", json={"version": "2.0.0"}).status_code == 200
            )
            # backup-config 1.0.0 is deprecated in the example catalog already; noop is archived here.
            archived = a.post(
                "/api/admin/catalog/items/noop/versions/1.0.0/transition", json={"to": "archived", "reason": "unused"}
            )
            assert archived.status_code == 200, archived.text
            archive = _export(a)
            exported = _catalog_state(a)

            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                names = tar.getnames()
            assert names[0] == "portal-catalog-export.json" and names[-1] == "manifest.json"
            assert "catalog.json" in names and any(n.startswith("bundles/") for n in names)

            preview = _import(b, archive, dry_run=True)
            assert preview["dry_run"] and preview["imported"] == 0
            assert {v["outcome"] for v in preview["versions"]} == {"new"}
            assert b.get("/api/admin/catalog/items").json()["items"] == []  # the dry run changed nothing

            first = _import(b, archive)
            assert first["failed"] == 0 and first["conflicts"] == 0, first
            assert first["imported"] == len(preview["versions"])
            assert f"{ITEM}:stable -> 2.0.0" in first["channels_set"]
            assert ITEM in first["items_configured"]
            assert _catalog_state(b) == exported  # states, bundles (by sha256), channels, metadata

            audit_before = b.get("/api/admin/audit", params={"limit": 1000}).json()["items"]
            second = _import(b, archive)
            assert second["imported"] == 0 and second["unchanged"] == first["imported"], second
            assert second["channels_set"] == [] and second["items_configured"] == []
            assert _catalog_state(b) == exported
            audit_after = b.get("/api/admin/audit", params={"limit": 1000}).json()["items"]
            assert [e["action"] for e in audit_after[: len(audit_after) - len(audit_before)]] == [
                "catalog.import_export"
            ]
    finally:
        source.stop()
        target.stop()


def test_a_version_that_differs_here_is_kept_and_a_damaged_export_refused(tmp_path: Path) -> None:
    from tests.helpers import item_files, targz, upload

    source = PortalServer(tmp_path / "source", env={"PORTAL_CATALOG_LOAD_EXAMPLES": "false"}).start()
    target = PortalServer(tmp_path / "target", env={"PORTAL_CATALOG_LOAD_EXAMPLES": "false"}).start()
    try:
        with source.client(source.token_for("admin")) as a, target.client(target.token_for("admin")) as b:
            assert upload(a, targz(item_files("twin", "1.0.0", result="there"))).status_code == 200
            assert upload(a, targz(item_files("solo", "1.0.0"))).status_code == 200
            assert upload(b, targz(item_files("twin", "1.0.0", result="here"))).status_code == 200
            kept = b.get("/api/admin/catalog/items/twin").json()["versions"][0]["bundle_sha256"]
            # What an item stores may be more than the admin API takes now (60 tags): exported, noted, not applied.
            tags = json.dumps({"tags": [f"t{n}" for n in range(60)]})
            source.sql("UPDATE catalog_items SET overrides = :tags WHERE id = 'solo'", tags=tags)
            archive = _export(a)

            report = _import(b, archive)
            outcomes = {v["item_id"]: v["outcome"] for v in report["versions"]}
            assert outcomes == {"twin": "conflict", "solo": "imported"}
            conflict = next(v for v in report["versions"] if v["item_id"] == "twin")
            assert conflict["problems"]["here"] == kept
            assert b.get("/api/admin/catalog/items/twin").json()["versions"][0]["bundle_sha256"] == kept
            assert report["items_configured"] == [] and any(n.startswith("solo keeps") for n in report["notes"])

            damaged = bytearray(archive)
            damaged[len(damaged) // 2] ^= 0xFF
            refused = b.post(
                "/api/admin/catalog/import", files={"file": ("export.tar", bytes(damaged), "application/x-tar")}
            )
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"]["code"] == "backup_invalid"
            foreign = b.post(
                "/api/admin/catalog/import", files={"file": ("x.tar", b"not a tar at all", "application/x-tar")}
            )
            assert (
                foreign.status_code == 400
                and "not a portal-catalog-export archive" in foreign.json()["error"]["message"]
            )
    finally:
        source.stop()
        target.stop()
