"""Analytics in the browser: an operator sees the runs of an item per version with its chart, the failures grouped
with links to their jobs and a failed import with its problem; the item's admin page shows its usage; axe finds
nothing on the page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import api_client, axe_violations, login, screenshot
from tests.helpers import PortalServer, targz, upload, wait_for_job


def test_an_operator_reads_usage_failures_and_failed_imports(page: Page, web_server: PortalServer) -> None:
    with api_client(web_server, "ada") as ada:
        ran = [
            ada.post("/api/jobs", json={"item_id": item, "inputs": {}}).json()["id"] for item in ("noop", "bad-result")
        ]
        for job_id in ran:
            wait_for_job(ada, job_id, {"SUCCEEDED", "FAILED"}, timeout=60)
        broken = targz({"manifest.yaml": "id: analytics-broken\nname: x\n"}, wrap="analytics-broken/")
        assert upload(ada, broken, name="analytics-broken.tar.gz").status_code == 422

    login(page, "ada", path="/admin")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Analytics").click()
    usage = page.get_by_test_id("usage-table")
    noop = usage.locator("tr[data-item-id='noop']")
    expect(noop).to_be_visible()
    noop.get_by_role("button").click()
    expect(usage.locator("tr[data-version='1.0.0']").first).to_be_visible()
    expect(
        page.get_by_role("figure", name="Runs of the busiest items, by outcome").locator("svg").first
    ).to_be_visible()

    errors = page.get_by_test_id("error-groups")
    expect(errors).to_contain_text("bad-result")
    expect(errors.get_by_role("link", name=f"#{ran[1]}")).to_be_visible()
    failures = page.get_by_test_id("import-failures")
    expect(failures).to_contain_text("analytics-broken.tar.gz")
    screenshot(page, "admin-analytics")
    assert (violations := axe_violations(page)) == [], violations

    page.goto(f"{web_server.url}/admin/catalog/noop")
    item_usage = page.get_by_test_id("item-usage")
    expect(item_usage.locator("tr[data-version='1.0.0']")).to_be_visible()
    expect(item_usage.get_by_role("figure").locator("svg").first).to_be_visible()
