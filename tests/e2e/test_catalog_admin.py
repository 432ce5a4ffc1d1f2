"""Catalog administration in the browser: a staged release reviewed by someone else with the diff, then deprecated
with a reason; the table's bulk action previewed and applied; the catalog export downloaded and its import
previewed; axe finds nothing on either page."""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.conftest import api_client, axe_violations, login, screenshot
from tests.helpers import PortalServer, item_files, targz, upload


def publish(
    web_server: PortalServer, item_id: str, version: str, schema: Mapping[str, Any], draft: bool, manifest: str = ""
) -> None:
    files = {**item_files(item_id, version, extra_manifest=manifest), "schema.json": json.dumps(schema)}
    with api_client(web_server, "paul") as paul:
        response = upload(paul, targz(files, wrap=f"{item_id}-{version}/"), draft="true" if draft else "false")
        assert response.status_code == 200, response.text


def version_row(page: Page, version: str):  # type: ignore[no-untyped-def]
    return page.locator(f"tr[data-version='{version}']")


def test_a_staged_release_is_reviewed_with_its_diff_and_then_deprecated(page: Page, web_server: PortalServer) -> None:
    old = {"type": "object", "properties": {"host": {"type": "string"}}}
    new = {
        "type": "object",
        "properties": {"host": {"type": "string"}, "zone": {"type": "string"}},
        "required": ["zone"],
    }
    publish(web_server, "base-e2e", "1.0.0", old, draft=False)
    publish(web_server, "staged-e2e", "1.0.0", old, draft=False)
    asks = "network:\n  tcp_ports: [443]\ndependencies:\n  - base-e2e@^1.0.0\n"
    publish(web_server, "staged-e2e", "1.1.0", new, draft=True, manifest=asks)

    login(page, "paul", path="/admin/catalog/staged-e2e")
    version_row(page, "1.1.0").get_by_role("button", name="Send to review").click()
    page.get_by_role("dialog").get_by_role("button", name="Send to review").click()
    expect(version_row(page, "1.1.0")).to_contain_text("in review")
    version_row(page, "1.1.0").get_by_role("link", name="Review").click()
    expect(page.get_by_text(re.compile("You brought this version in .*: someone else reviews it."))).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)

    page.get_by_role("button", name="Log out").click()  # someone else reviews it, from the dashboard's list
    login(page, "ada", path="/admin")
    page.get_by_test_id("reviews-waiting").get_by_role("link", name=re.compile(r"1\.1\.0")).click()
    expect(page.get_by_role("heading", name=re.compile(r"^Review .* 1\.1\.0$"))).to_be_visible()
    expect(page.get_by_label("Compared with")).to_have_value("1.0.0")  # the version it replaces
    diff = page.get_by_test_id("version-diff")
    expect(diff).to_contain_text("breaking")
    expect(diff).to_contain_text("zone")
    needs = page.get_by_test_id("version-needs")
    expect(needs).to_contain_text("outbound TCP port 443")
    expect(needs).to_contain_text("asks for more")
    screenshot(page, "admin-catalog-review")
    assert (violations := axe_violations(page)) == [], violations
    page.get_by_label("Compared with").select_option("")  # the whole version: every file shown, new
    expect(page.get_by_label("Diff of task.py")).to_contain_text("+def run")
    page.get_by_role("button", name="Approve").click()
    expect(page).to_have_url(re.compile(r"/admin/catalog/staged-e2e$"))
    expect(version_row(page, "1.1.0")).to_contain_text("active")
    screenshot(page, "admin-catalog-item")
    assert (violations := axe_violations(page)) == [], violations
    expect(page.get_by_test_id("dependency-map")).to_contain_text("base-e2e")  # runnable now: on the map

    version_row(page, "1.0.0").get_by_role("button", name="Deprecate").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Reason (required)").fill("use 1.1.0")
    dialog.get_by_role("button", name="Deprecate").click()
    expect(version_row(page, "1.0.0")).to_contain_text("deprecated")
    expect(version_row(page, "1.0.0")).to_contain_text("use 1.1.0")

    page.get_by_label("Notice shown on the item page").fill("Maintenance on Friday")  # requesters see it
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("staged-e2e saved")).to_be_visible()
    page.goto("/catalog/staged-e2e")
    expect(page.get_by_test_id("item-notice")).to_contain_text("Maintenance on Friday")


def test_a_bulk_action_is_previewed_row_by_row_then_applied(page: Page, web_server: PortalServer) -> None:
    schema = {"type": "object"}
    for item in ("bulk-e2e-a", "bulk-e2e-b"):
        publish(web_server, item, "1.0.0", schema, draft=False)
    login(page, "ada", path="/admin/catalog?q=bulk-e2e")
    expect(page.locator("tr[data-item-id]")).to_have_count(2)
    screenshot(page, "admin-catalog")
    assert (violations := axe_violations(page)) == [], violations
    page.get_by_label("Select bulk-e2e-a").check()
    page.get_by_label("Select bulk-e2e-b").check()
    bar = page.get_by_role("region", name="Bulk actions")
    bar.get_by_label("Reason").fill("end of life")
    bar.get_by_role("button", name="Preview").click()
    preview = bar.get_by_role("table", name="Preview")
    expect(preview).to_contain_text("would move active -> deprecated")
    bar.get_by_role("button", name="Apply to 2 row(s)").click()
    expect(page.get_by_role("status").filter(has_text="2 done, 0 refused")).to_be_visible()
    with api_client(web_server, "ada") as ada:
        for item in ("bulk-e2e-a", "bulk-e2e-b"):
            versions = ada.get(f"/api/admin/catalog/items/{item}").json()["versions"]
            assert versions[0]["state"] == "deprecated" and versions[0]["reason"] == "end of life"


def test_an_admin_downloads_the_catalog_export_and_previews_importing_it(
    page: Page, web_server: PortalServer, tmp_path: Path
) -> None:
    """The export downloads from the catalog page; importing it into the same portal is previewed version by version
    (all of them are here already) and changes nothing."""
    login(page, "ada", path="/admin/catalog")
    page.get_by_text("Export and import").click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the catalog export").click()
    export = tmp_path / "export.tar"
    download_info.value.save_as(export)
    with tarfile.open(export) as tar:
        assert tar.getnames()[0] == "portal-catalog-export.json"

    section = page.get_by_test_id("catalog-transfer")
    expect(section.get_by_role("button", name="Import", exact=True)).to_be_disabled()  # preview first
    section.get_by_label("Catalog export to import").set_input_files(str(export))
    section.get_by_role("button", name="Preview the import").click()
    report = page.get_by_test_id("catalog-import-report")
    expect(report).to_contain_text("Preview: 0 version(s) would be imported")
    expect(report.get_by_role("row", name="backup-config 2.0.0 unchanged")).to_be_visible()
    assert (violations := axe_violations(page)) == [], violations
    section.get_by_role("button", name="Import", exact=True).click()
    expect(report).to_contain_text("0 imported")
