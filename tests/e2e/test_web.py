"""The web app end to end: log in, browse, launch, watch jobs live, cancel, retry, import, and permissions."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import axe_violations, login, screenshot
from tests.helpers import PortalServer


def test_login_redirects_back_and_catalog_search(page: Page, web_server: PortalServer) -> None:
    page.goto("/jobs?state=FAILED")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    login(page, "alice", path="/jobs?state=FAILED")
    expect(page).to_have_url(re.compile(r"/jobs\?state=FAILED$"))
    page.goto("/catalog")
    expect(page.get_by_role("link", name="Backup network device configs")).to_be_visible()
    screenshot(page, "catalog")
    assert axe_violations(page) == []
