"""The catalog sources page in the browser: a folder source added in the form view, checked as it is typed,
saved and refreshed; an unknown field in the YAML view shown with its line; a save over someone else's refused
with a reload; the revisions with their diff and a rollback; a refresh's per-item problems one click away."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.conftest import api_client, axe_violations, login, screenshot
from tests.helpers import EXAMPLES, PortalServer, item_files, write

SOURCE = "examples-e2e"


def test_an_admin_edits_saves_and_rolls_back_the_sources(page: Page, web_server: PortalServer) -> None:
    login(page, "ada", path="/admin/sources")
    expect(page.get_by_role("heading", name="Sources", level=1)).to_be_visible()
    editor = page.get_by_test_id("sources-editor")
    answer = page.get_by_test_id("validation-answer")

    # The form view: a folder source under the allowed roots, checked as it is typed.
    editor.get_by_role("button", name="Add a folder source").click()
    source = editor.locator("fieldset[data-source-form]").last
    source.get_by_label("Id").fill(SOURCE)
    source.get_by_label("Folder", exact=True).fill(str(EXAMPLES))
    source.get_by_label("Poll every (seconds)").fill("0")
    expect(answer).to_have_attribute("data-valid", "true")
    expect(answer).to_contain_text("Valid")
    editor.get_by_label("Commit message").fill("Add the examples folder")
    editor.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text=re.compile(r"Sources saved as revision \d+"))).to_be_visible()
    row = page.get_by_test_id("sources-table").locator(f"tr[data-source='{SOURCE}']")
    expect(row).to_contain_text(str(EXAMPLES))
    expect(row.locator("[data-state]")).to_have_attribute("data-state", re.compile(r".+"))
    expect(row).to_contain_text("Folder")
    screenshot(page, "admin-sources")
    assert (violations := axe_violations(page)) == [], violations

    # Refresh now: a job, linked; when it ends the row says how it went (a live message, no reload).
    row.get_by_role("button", name=f"Refresh {SOURCE} now").click()
    expect(row.get_by_role("link", name=re.compile(r"^job #\d+$"))).to_be_visible()
    expect(row).to_contain_text(re.compile(r"\d+ new, \d+ unchanged, \d+ failed"), timeout=30_000)

    with api_client(web_server, "ada") as admin:
        saved = admin.get("/api/admin/sources").json()
        ours = saved["revision"]
        assert any(s["id"] == SOURCE and s["poll_seconds"] == 0 for s in saved["sources"])

    # The YAML view: an unknown field inside the source is refused with its line.
    editor.get_by_role("tab", name="YAML").click()
    yaml = editor.get_by_label("The sources document (YAML)")
    lines = yaml.input_value().split("\n")
    at = lines.index(f"  - id: {SOURCE}")
    lines.insert(at + 1, "    colour: blue")
    yaml.fill("\n".join(lines))
    errors = answer.get_by_test_id("validation-errors")
    expect(answer).to_have_attribute("data-valid", "false")
    expect(errors).to_contain_text(f"Line {at + 2}:")
    expect(errors).to_contain_text("colour")
    editor.get_by_role("button", name="Discard changes").click()
    expect(answer).to_have_attribute("data-valid", "true")

    # A save over a revision someone else made meanwhile: refused, and the page offers the current one.
    editor.get_by_role("tab", name="Form").click()
    source = editor.locator("fieldset[data-source-form]", has_text=f"Source {SOURCE}")
    source.get_by_label("Poll every (seconds)").fill("600")
    with api_client(web_server, "ada") as admin:
        current = admin.get("/api/admin/sources")
        document = current.json()
        for each in document["sources"]:
            if each["id"] == SOURCE:
                each["poll_seconds"] = 3600
        changed = admin.put(
            "/api/admin/sources",
            json=document,
            params={"message": "changed behind the page"},
            headers={"If-Match": current.headers["ETag"]},
        )
        assert changed.status_code == 200, changed.text
    editor.get_by_role("button", name="Save", exact=True).click()
    conflict = page.get_by_test_id("sources-conflict")
    expect(conflict).to_contain_text("changed since you read them")
    conflict.get_by_role("button", name="Reload the current document").click()
    expect(conflict).to_be_hidden()
    expect(source.get_by_label("Poll every (seconds)")).to_have_value("3600")

    # The revisions: ours with its diff, and a rollback to it that makes a new revision.
    revisions = page.get_by_test_id("revisions-table")
    expect(revisions.locator("tbody tr").first).to_contain_text("changed behind the page")
    mine = revisions.locator(f"tr[data-revision='{ours}']")
    expect(mine).to_contain_text("Add the examples folder")
    mine.get_by_role("button", name=f"Changes in revision {ours}").click()
    diff = page.get_by_role("dialog").get_by_test_id("revision-diff")
    expect(diff).to_contain_text(f"sources[{SOURCE}]")
    expect(diff.get_by_label("Unified diff")).to_contain_text(f"id: {SOURCE}")
    page.get_by_role("dialog").get_by_role("button", name="Close").click()

    mine.get_by_role("button", name=f"Roll back to revision {ours}").click()
    page.get_by_role("dialog").get_by_role("button", name="Roll back").click()
    expect(page.get_by_role("status").filter(has_text=f"Rolled back to revision {ours}")).to_be_visible()
    newest = revisions.locator("tbody tr").first
    expect(newest).to_contain_text(f"rollback to revision {ours}")
    expect(newest).to_contain_text("current")
    expect(source.get_by_label("Poll every (seconds)")).to_have_value("0")
    with api_client(web_server, "ada") as admin:
        after = admin.get("/api/admin/sources").json()
        assert after["revision"] > ours + 1
        assert next(s for s in after["sources"] if s["id"] == SOURCE)["poll_seconds"] == 0

    page.get_by_role("button", name="Switch to dark theme").click()
    expect(page.locator("html")).to_have_class(re.compile("dark"))
    screenshot(page, "admin-sources-dark")
    assert (violations := axe_violations(page)) == [], violations


def test_a_refresh_lists_each_broken_items_problems_one_click_away(
    page: Page, web_server: PortalServer, sources_root: Path
) -> None:
    folder = sources_root / "mixed"
    write(folder / "items" / "fine-e2e" / "1.0.0", item_files("fine-e2e", "1.0.0"))
    write(folder / "items" / "odd-e2e" / "1.0.0", item_files("odd-e2e", "1.0.0", extra_manifest="colour: red\n"))
    source = {"id": "mixed", "type": "folder", "path": str(folder), "poll_seconds": 0}
    with api_client(web_server, "ada") as admin:
        current = admin.get("/api/admin/sources")
        document = {**current.json(), "sources": [*current.json()["sources"], source]}
        saved = admin.put("/api/admin/sources", json=document, headers={"If-Match": current.headers["ETag"]})
        assert saved.status_code == 200, saved.text
    login(page, "ada", path="/admin/sources")
    row = page.get_by_test_id("sources-table").locator("tr[data-source='mixed']")
    row.get_by_role("button", name="Refresh mixed now").click()
    expect(row).to_contain_text("1 new, 0 unchanged, 1 failed", timeout=30_000)
    problems = row.get_by_test_id("problems-mixed")
    expect(problems.get_by_text("colour")).to_be_hidden()
    problems.get_by_text("1 problem").click()
    expect(problems).to_contain_text("odd-e2e@1.0.0")
    expect(problems).to_contain_text("colour")
    expect(page.get_by_test_id("source-states")).to_contain_text(re.compile(r"\d+ available"))
    assert (violations := axe_violations(page)) == [], violations
