"""Storage in the browser: an admin finds an item's bundle, reads one of its files and sees who refers to it; the
cleanup is previewed, then removes what it listed; axe finds nothing on the page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import api_client, axe_violations, login, screenshot
from tests.helpers import PortalServer, item_files, targz, upload


def test_an_admin_reads_a_file_of_an_items_bundle(page: Page, web_server: PortalServer) -> None:
    login(page, "ada", path="/admin")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Storage").click()
    page.get_by_label("Search").fill("chatty")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("tr[data-sha256]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("chatty@1.0.0")
    sha256 = rows.first.get_attribute("data-sha256")
    rows.first.get_by_role("button").click()
    files = page.get_by_role("list", name="Files")
    expect(files).to_contain_text("manifest.yaml")
    files.get_by_role("button", name="task.py").click()
    expect(page.get_by_label("Content of task.py")).to_contain_text("progress_callback")
    expect(page.get_by_test_id("bundle-file")).to_contain_text("sha256")
    download = f"/api/admin/storage/bundles/{sha256}/download"
    expect(page.get_by_role("link", name="Download")).to_have_attribute("href", download)
    screenshot(page, "admin-storage")
    assert (violations := axe_violations(page)) == [], violations


def test_an_admin_previews_the_cleanup_then_removes_what_it_listed(page: Page, web_server: PortalServer) -> None:
    bundles = []
    with api_client(web_server, "paul") as paul:
        for result in ("first", "second"):
            files = targz(item_files("replaced-e2e", "1.0.0", result), wrap="replaced-e2e-1.0.0/")
            response = upload(paul, files, replace="true")
            assert response.status_code == 200, response.text
            bundles.append(response.json()["imported"][0]["bundle_sha256"])
    orphan = bundles[0]
    login(page, "ada", path="/admin/storage")
    page.get_by_role("button", name="Preview the cleanup").click()
    plan = page.get_by_test_id("cleanup-plan")
    expect(plan).to_contain_text("Would remove")
    expect(plan).to_contain_text(orphan)
    assert (violations := axe_violations(page)) == [], violations
    page.get_by_role("button", name="Remove these").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove", exact=True).click()
    expect(page.get_by_test_id("cleanup-plan")).to_contain_text("Removed")
    with api_client(web_server, "ada") as ada:
        assert ada.get("/api/admin/storage/bundles", params={"q": orphan}).json()["total"] == 0
        assert ada.get("/api/admin/storage/bundles", params={"q": bundles[1]}).json()["total"] == 1
