"""A refused import reaches the admins in the browser: the dashboard raises an alert that leads to its problems."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import api_client, login
from tests.helpers import PortalServer, targz, upload


def test_a_failed_import_is_an_alert_that_leads_to_its_problems(page: Page, web_server: PortalServer) -> None:
    with api_client(web_server, "ada") as ada:
        broken = targz({"manifest.yaml": "id: broken-upload\nname: x\n"}, wrap="broken-upload-1.0.0/")
        assert upload(ada, broken, name="broken-upload.tar.gz").status_code == 422
    login(page, "ada", path="/admin")
    alert = page.get_by_role("alert").filter(has_text="catalog import(s) failed in the last 24 h")
    expect(alert).to_be_visible()
    alert.get_by_role("link", name="See the problems").click()
    failed = page.get_by_test_id("import-failures")
    expect(failed).to_contain_text("broken-upload.tar.gz")
