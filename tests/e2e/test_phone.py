"""Every page at 375 px (docs/web.md: "from 375 px"): nothing scrolls sideways, a table's states and row actions
are on the screen (its rows become cards), and the user's menu (profile, log out) is in reach."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import api_client, login, screenshot
from tests.helpers import PortalServer, wait_for_job

WIDTH = 375
PAGES = [
    ("/catalog", "main li"),
    ("/catalog/backup-config/2.0.0", "form.rjsf button[type=submit]"),
    ("/jobs", "tbody tr[data-job-id]"),
    ("/approvals", "main h1"),
    ("/profile", "main h1"),
    ("/admin", "main h1"),
    ("/admin/jobs", "tbody tr[data-job-id]"),
    ("/admin/catalog", "tbody tr"),
    ("/admin/catalog/backup-config", "main h1"),
    ("/admin/catalog/backup-config/versions/2.0.0/review", "main h1"),
    ("/admin/storage", "tbody tr"),
    ("/admin/analytics", "main h1"),
    ("/admin/audit", "tbody tr"),
    ("/admin/users", "tbody tr"),
    ("/admin/secrets", "tbody tr"),
    ("/admin/sources", "main h1"),
    ("/admin/schedules", "tbody tr"),
    ("/admin/system", "main h1"),
]

# What must be on the screen in each row of a data table: its state, and the controls that act on it.
OFF_SCREEN = """(width) => {
  const off = [];
  for (const table of document.querySelectorAll("main table:not(.markdown table)")) {
    for (const row of [...table.querySelectorAll("tbody tr")].slice(0, 5)) {
      for (const el of row.querySelectorAll("[data-state], button, a, input[type=checkbox], select")) {
        const box = el.getBoundingClientRect();
        if (box.width === 0 && box.height === 0) continue;  // not rendered (a hidden control)
        if (box.left < -1 || box.right > width + 1) {
          const name = (el.textContent || el.getAttribute("aria-label") || "").trim().slice(0, 30);
          off.push(`${el.tagName} '${name}' at ${Math.round(box.left)}-${Math.round(box.right)}`);
        }
      }
    }
  }
  return off;
}"""


@pytest.fixture
def data(web_server: PortalServer) -> None:
    """A failed job, a schedule and a secret: every table has a row."""
    with api_client(web_server, "alice") as alice:
        failed = alice.post("/api/jobs", json={"item_id": "failing-task", "inputs": {}}).json()["id"]
        wait_for_job(alice, failed, {"FAILED"})
    with api_client(web_server, "ada") as admin:
        admin.post("/api/admin/secrets", json={"name": "PHONE_TOKEN", "value": "s3cret-value"})
        admin.post(
            "/api/admin/schedules",
            json={"name": "phone nightly", "item_id": "noop", "cron": "0 3 * * *", "enabled": False},
        )


def test_every_page_fits_a_phone(page: Page, data: None) -> None:
    login(page, "ada", path="/catalog")
    page.set_viewport_size({"width": WIDTH, "height": 800})
    problems: list[str] = []
    for path, content in PAGES:
        page.goto(path)
        expect(page.locator(content).first).to_be_visible()
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > WIDTH:
            problems.append(f"{path} scrolls sideways ({width} px wide)")
        problems += [f"{path}: {where}" for where in page.evaluate(OFF_SCREEN, WIDTH)]
        screenshot(page, "phone" + path.replace("/", "-"))
    assert problems == [], "\n".join(problems)


def test_the_user_menu_is_in_reach_on_a_phone(page: Page) -> None:
    login(page, "alice", path="/catalog")
    page.set_viewport_size({"width": WIDTH, "height": 800})
    page.goto("/jobs")
    profile = page.get_by_role("link", name="alice")
    expect(profile).to_be_visible()
    profile.click()
    expect(page).to_have_url(re.compile(r"/profile$"))
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
