"""Storage quotas, on a portal of its own: an import over the item's quota or the total one is refused with the
quota, the limit and by how much, and registers nothing; known bytes cost nothing, and a replaced version's old
bundle no longer counts for its item."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import PortalServer, item_files, targz, upload

TOTAL = 40_000
PASSWORD = "quota-pass-Wombat-7"
ITEM_API = "/api/admin/catalog/items"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PortalServer]:
    portal = PortalServer(
        tmp_path, env={"PORTAL_STORAGE_QUOTA_BYTES": str(TOTAL), "PORTAL_CATALOG_LOAD_EXAMPLES": "false"}
    ).start()
    try:
        yield portal
    finally:
        portal.stop()


@pytest.fixture
def admin(server: PortalServer) -> Iterator[httpx.Client]:
    with server.client(server.token_for("admin")) as client:
        yield client


def bundle(item: str, version: str, result: str = "ok", noise: int = 0) -> bytes:
    files: dict[str, bytes | str] = {**item_files(item, version, result)}
    if noise:
        files["noise.bin"] = os.urandom(noise)  # incompressible: the bundle grows by about this much
    return targz(files, wrap=f"{item}-{version}/")


def versions(admin: httpx.Client, item: str) -> list[str]:
    return sorted(v["version"] for v in admin.get(f"{ITEM_API}/{item}").json()["versions"])


def test_an_import_over_a_quota_is_refused_with_the_quota_and_by_how_much(admin: httpx.Client) -> None:
    first = upload(admin, bundle("quota", "1.0.0"))
    assert first.status_code == 200, first.text
    used = admin.get(f"{ITEM_API}/quota").json()["storage_bytes"]
    assert used > 0
    limited = admin.patch(f"{ITEM_API}/quota", json={"storage_quota_bytes": used + 2_000})
    assert limited.status_code == 200 and limited.json()["storage_quota_effective"] == used + 2_000

    refused = upload(admin, bundle("quota", "1.1.0", noise=5_000))
    assert refused.status_code == 413, refused.text
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded" and error["details"]["quota"] == "item"
    details = error["details"]
    assert details["limit"] == used + 2_000 and details["used"] == used
    assert details["over_by"] == details["used"] + details["size"] - details["limit"] > 0
    assert "item storage quota" in error["message"] and "the item's own quota" in error["message"]
    assert versions(admin, "quota") == ["1.0.0"]  # nothing registered

    assert upload(admin, bundle("quota", "1.1.0")).status_code == 200  # a small one fits
    used = admin.get(f"{ITEM_API}/quota").json()["storage_bytes"]
    assert admin.patch(f"{ITEM_API}/quota", json={"storage_quota_bytes": used + 100}).status_code == 200
    replaced = upload(admin, bundle("quota", "1.0.0", result="new"), replace="true")
    assert replaced.status_code == 200, replaced.text  # its old bundle no longer counts for the item
    assert admin.get(f"{ITEM_API}/quota").json()["storage_bytes"] <= used + 100

    stored = admin.get("/api/admin/storage/summary").json()["bytes"]
    total = upload(admin, bundle("big", "1.0.0", noise=TOTAL - stored // 2 - 1_000))
    assert total.status_code == 413, total.text
    details = total.json()["error"]["details"]
    assert details["quota"] == "total" and details["used"] == stored
    assert details["size"] < TOTAL < details["used"] + details["size"]  # refused for what is stored already
    assert "PORTAL_STORAGE_QUOTA_BYTES" in total.json()["error"]["message"]
    assert admin.get(f"{ITEM_API}/big").status_code == 404

    unlimited = admin.patch(f"{ITEM_API}/quota", json={"storage_quota_bytes": 0})
    assert unlimited.status_code == 200 and unlimited.json()["storage_quota_effective"] == 0
    assert admin.patch(f"{ITEM_API}/quota", json={"storage_quota_bytes": -1}).status_code == 422


def test_only_an_admin_sets_an_items_quota(server: PortalServer, admin: httpx.Client) -> None:
    created = admin.post("/api/admin/users", json={"username": "pub", "role": "publisher", "password": PASSWORD})
    assert created.status_code == 201, created.text
    with server.client(server.token_for("pub")) as publisher:
        assert upload(publisher, bundle("mine", "1.0.0")).status_code == 200
        refused = publisher.patch(f"{ITEM_API}/mine", json={"storage_quota_bytes": 10**9})
        assert refused.status_code == 403 and "storage_quota_bytes" in refused.json()["error"]["message"]
    assert admin.get(f"{ITEM_API}/mine").json()["storage_quota_bytes"] is None
