"""The admin side in the browser: job control, bulk actions, approvals, the audit log, the live dashboard."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import api_client, axe_violations, login, screenshot
from tests.helpers import PortalServer, wait_for_job

SLOTS = 3  # the browser tests' server runs three jobs at once


def row(page: Page, job_id: int):  # type: ignore[no-untyped-def]
    return page.locator(f"tr[data-job-id='{job_id}']")


def test_an_operator_cancels_a_running_job_and_retries_a_failed_one(page: Page, web_server: PortalServer) -> None:
    with api_client(web_server, "alice") as alice:
        running = alice.post("/api/jobs", json={"item_id": "sleeper", "inputs": {"seconds": 120}}).json()["id"]
        failed = alice.post("/api/jobs", json={"item_id": "failing-task", "inputs": {}}).json()["id"]
        wait_for_job(alice, failed, {"FAILED"})
        login(page, "olga", path="/admin/jobs")
        expect(row(page, running)).to_have_attribute("data-state", "RUNNING", timeout=20_000)
        screenshot(page, "admin-jobs")
        assert (violations := axe_violations(page)) == [], violations

        row(page, running).get_by_role("button", name=f"Cancel job {running}").click()
        page.get_by_role("dialog").get_by_role("button", name="Cancel job").click()
        expect(row(page, running)).to_have_attribute("data-state", "CANCELLED", timeout=15_000)

        row(page, failed).get_by_role("button", name=f"Retry job {failed}").click()
        expect(page.get_by_role("status").filter(has_text=f"Job #{failed} retried as")).to_be_visible()
        # The retry is olga's job: alice (a requester) does not see it, olga does, and so does her table.
        alices = alice.get("/api/jobs", params={"item_id": "failing-task"}).json()["items"]
        assert not any(j["retry_of"] == failed for j in alices)
        with api_client(web_server, "olga") as olga:
            mine = olga.get("/api/jobs", params={"item_id": "failing-task", "q": "olga"}).json()["items"]
            assert [j["retry_of"] for j in mine][:1] == [failed]
            expect(row(page, mine[0]["id"])).to_be_visible()  # the new job appeared in the table live

        row(page, failed).get_by_role("button", name=f"Details of job {failed}").click()
        drawer = page.get_by_role("dialog")
        expect(drawer).to_contain_text("RuntimeError")
        expect(drawer).to_contain_text(f"Retried as #{mine[0]['id']}")
        drawer.get_by_role("button", name="Close").click()


def test_bulk_cancel_of_several_queued_jobs(page: Page, web_server: PortalServer) -> None:
    with api_client(web_server, "alice") as alice:
        blockers = [
            alice.post("/api/jobs", json={"item_id": "sleeper", "inputs": {"seconds": 120}}).json()["id"]
            for _ in range(SLOTS)
        ]
        for blocker in blockers:
            wait_for_job(alice, blocker, {"RUNNING"})
        queued = [alice.post("/api/jobs", json={"item_id": "noop", "inputs": {}}).json()["id"] for _ in range(3)]
        login(page, "olga", path="/admin/jobs?state=QUEUED")
        for job_id in queued:
            expect(row(page, job_id)).to_have_attribute("data-state", "QUEUED")
            page.get_by_label(f"Select job {job_id}").check()
        bar = page.get_by_role("region", name="Bulk actions")
        expect(bar).to_contain_text("3 selected")
        bar.get_by_role("button", name="Cancel selected").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("3 queued")
        dialog.get_by_role("button", name="Cancel", exact=True).click()
        expect(page.get_by_role("status").filter(has_text="3 done, 0 refused")).to_be_visible()
        for job_id in queued:
            assert alice.get(f"/api/jobs/{job_id}").json()["state"] == "CANCELLED"
            expect(row(page, job_id)).to_have_count(0)  # it left the list of queued jobs
        for blocker in blockers:
            alice.post(f"/api/jobs/{blocker}/cancel")


def test_the_bulk_bar_offers_what_applies_and_lists_each_refusal(page: Page, web_server: PortalServer) -> None:
    with api_client(web_server, "alice") as alice:
        failed = alice.post("/api/jobs", json={"item_id": "failing-task", "inputs": {}}).json()["id"]
        done = alice.post("/api/jobs", json={"item_id": "noop", "inputs": {}}).json()["id"]
        running = alice.post("/api/jobs", json={"item_id": "sleeper", "inputs": {"seconds": 120}}).json()["id"]
        wait_for_job(alice, failed, {"FAILED"})
        wait_for_job(alice, done, {"SUCCEEDED"})
        wait_for_job(alice, running, {"RUNNING"})
        login(page, "olga", path="/admin/jobs")
        for job_id in (failed, done):
            page.get_by_label(f"Select job {job_id}").check()
        bar = page.get_by_role("region", name="Bulk actions")
        expect(bar.get_by_role("button", name="Retry 1 of 2")).to_be_visible()
        expect(bar.get_by_role("button", name=re.compile("^Cancel"))).to_have_count(0)  # nothing of these runs
        expect(bar.get_by_role("button", name=re.compile("^Run now"))).to_have_count(0)
        bar.get_by_role("button", name="Clear selection").click()

        # A job that ends between the choice and the call is refused, and the refusal says why.
        page.get_by_label(f"Select job {running}").check()
        bar.get_by_role("button", name="Cancel selected").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("1 running")
        assert alice.post(f"/api/jobs/{running}/cancel").status_code == 200
        wait_for_job(alice, running, {"CANCELLED"})
        dialog.get_by_role("button", name="Cancel", exact=True).click()
        refusals = page.get_by_role("dialog", name="Not done")
        expect(refusals.get_by_role("listitem")).to_have_count(1)
        expect(refusals.get_by_role("listitem")).to_contain_text(f"#{running} (cancelled)")


def test_an_approver_approves_a_pending_job_and_it_runs(page: Page, web_server: PortalServer) -> None:
    with api_client(web_server, "alice") as alice:
        job_id = alice.post("/api/jobs", json={"item_id": "needs-approval", "inputs": {"note": "e2e"}}).json()["id"]
        login(page, "olga", path="/approvals")
        item = page.locator(f"li[data-job-id='{job_id}']")
        expect(item).to_contain_text("needs-approval")
        expect(page.get_by_role("link", name=re.compile("Approvals"))).to_contain_text("1")
        screenshot(page, "approvals")
        assert (violations := axe_violations(page)) == [], violations
        item.get_by_label("Comment (optional)").fill("fine by me")
        item.get_by_role("button", name=f"Approve #{job_id}").click()
        expect(item).to_have_count(0)
        assert wait_for_job(alice, job_id, {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"
    page.goto(f"/jobs/{job_id}")
    expect(page.get_by_role("region", name="Approval")).to_contain_text("approved by olga")
    expect(page.get_by_role("region", name="Approval")).to_contain_text("fine by me")


def test_the_audit_page_shows_those_actions_and_a_change_as_a_diff(page: Page, web_server: PortalServer) -> None:
    with api_client(web_server, "ada") as ada:
        users = ada.get("/api/admin/users").json()
        bob = next(u for u in users if u["username"] == "bob")
        assert ada.patch(f"/api/admin/users/{bob['id']}", json={"display_name": "Bob the Builder"}).status_code == 200
    login(page, "ada", path="/admin/audit?action_prefix=job.")
    table = page.locator("table")
    for action in ("job.cancel", "job.retry", "job.approve", "job.create"):
        expect(table.locator(f"tr[data-action='{action}']").first).to_be_visible()
    screenshot(page, "audit")
    assert (violations := axe_violations(page)) == [], violations
    page.get_by_label("Action starts with").fill("")
    page.get_by_label("Action", exact=True).select_option("user.update")
    table.locator("tr[data-action='user.update']").first.get_by_role("button").click()
    drawer = page.get_by_role("dialog")
    changed = drawer.locator("tr[data-change=changed]")
    expect(changed).to_contain_text("display_name")
    expect(changed).to_contain_text("Bob the Builder")


def test_the_dashboard_counters_change_live(page: Page, web_server: PortalServer) -> None:
    login(page, "ada", path="/admin")
    running = page.get_by_test_id("counter-Running")
    expect(running).to_have_text(re.compile(r"^\d+$"))
    before = int(running.inner_text())
    # The jobs-per-hour chart spans its axis: its last hour (the current one) ends under "now", at the right.
    chart = page.get_by_test_id("hour-chart")
    edges = chart.evaluate(
        "svg => { const box = svg.getBoundingClientRect(); const bars = svg.querySelectorAll('rect');"
        " const first = bars[0].getBoundingClientRect(), last = bars[bars.length - 1].getBoundingClientRect();"
        " return [box.left, box.right, first.left, last.right]; }"
    )
    left, right, first_bar, last_bar = edges
    assert first_bar - left < 0.02 * (right - left) and right - last_bar < 0.02 * (right - left), edges
    screenshot(page, "dashboard")
    assert (violations := axe_violations(page)) == [], violations
    with api_client(web_server, "alice") as alice:
        job_id = alice.post("/api/jobs", json={"item_id": "sleeper", "inputs": {"seconds": 120}}).json()["id"]
        expect(running).to_have_text(str(before + 1), timeout=15_000)
        alice.post(f"/api/jobs/{job_id}/cancel")
        expect(running).to_have_text(str(before), timeout=15_000)


def test_admin_pages_pass_the_accessibility_check(page: Page) -> None:
    login(page, "ada", path="/admin/users")
    for path, name, ready in (
        ("/admin/users", "users", "table"),
        ("/admin/secrets", "secrets", "h1"),
        ("/admin/system", "system", "h1"),
        ("/profile", "profile", "h1"),
    ):
        page.goto(path)
        expect(page.locator(ready).first).to_be_visible()
        page.wait_for_load_state("networkidle")
        screenshot(page, name)
        assert (violations := axe_violations(page)) == [], (path, violations)


def test_an_admin_schedules_a_run_and_sees_its_next_runs(page: Page, web_server: PortalServer) -> None:
    login(page, "ada", path="/admin/schedules")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Schedules").click()
    page.get_by_role("button", name="New schedule").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("nightly noop")
    dialog.get_by_label("Item").select_option("noop")
    dialog.get_by_label("Time zone").fill("Europe/Berlin")
    # A wrong expression is named on its field while typing (the server's 422), then fixed.
    dialog.get_by_label("Cron expression").fill("0 25 * * *")
    expect(dialog.locator("#schedule-cron-error")).to_contain_text("out of range")
    dialog.get_by_label("Cron expression").fill("30 2 * * *")
    runs = dialog.get_by_role("list", name="Next runs")
    expect(runs.get_by_role("listitem")).to_have_count(5)
    expect(runs.get_by_role("listitem").first).to_contain_text("02:30")
    screenshot(page, "schedule-form")
    assert (violations := axe_violations(page)) == [], violations
    dialog.get_by_role("button", name="Create schedule").click()
    expect(page.get_by_role("status").filter(has_text="Schedule nightly noop created")).to_be_visible()

    shown = page.get_by_role("dialog")
    expect(shown.get_by_role("list", name="Next runs").get_by_role("listitem")).to_have_count(5)
    shown.get_by_role("button", name="Close").click()
    with api_client(web_server, "ada") as ada:
        created = next(s for s in ada.get("/api/admin/schedules").json()["items"] if s["name"] == "nightly noop")
    row = page.locator(f"tr[data-schedule-id='{created['id']}']")
    expect(row).to_contain_text("noop@latest")
    expect(row.get_by_test_id("next-run")).to_contain_text("02:30")
    screenshot(page, "schedules")

    switch = row.get_by_role("switch", name="nightly noop enabled")
    switch.click()  # the switch follows the server's answer
    expect(page.get_by_role("status").filter(has_text="nightly noop disabled")).to_be_visible()
    expect(switch).not_to_be_checked()
    expect(row.get_by_test_id("next-run")).to_contain_text("disabled")
    with api_client(web_server, "ada") as ada:
        assert ada.get(f"/api/admin/schedules/{created['id']}").json()["enabled"] is False
        assert ada.delete(f"/api/admin/schedules/{created['id']}").status_code == 204


def test_an_admin_allows_an_items_network_access_and_sees_each_jobs_protections(page: Page) -> None:
    login(page, "ada", path="/catalog/needs-network")
    note = page.get_by_role("note").filter(has_text="needs network access")
    expect(note).to_contain_text("outbound TCP port 443")
    expect(note).to_contain_text("has not allowed it")
    note.get_by_role("button", name="Allow network access").click()
    expect(page.get_by_role("status").filter(has_text="Network access allowed")).to_be_visible()
    expect(note).to_contain_text("An administrator allowed it")
    note.get_by_role("button", name="Withdraw network access").click()
    expect(note).to_contain_text("has not allowed it")

    page.goto("/admin/system")
    card = page.get_by_role("region", name="Job isolation")
    expect(card).to_contain_text("protections on")
    for name in ("uid", "seccomp", "pid namespace", "filesystem view", "network namespace", "process limit"):
        expect(card.get_by_role("list").first).to_contain_text(name)
    screenshot(page, "system-isolation")


def test_an_admin_sees_a_locked_login_and_unlocks_it(page: Page, web_server: PortalServer) -> None:
    for n in range(25):  # a guesser: a few failures, then refusals, then the lock
        httpx.post(f"{web_server.url}/api/auth/login", json={"username": "guessed-e2e", "password": f"guess-{n}"})
    login(page, "ada", path="/admin/users")
    locks = page.get_by_role("region", name="Locked logins")
    lock = locks.locator("tr[data-login-lock='guessed-e2e']")
    expect(lock).to_contain_text("Locked")
    expect(lock).to_contain_text("(no such user)")
    screenshot(page, "login-locks")
    lock.get_by_role("button", name="Unlock guessed-e2e").click()
    page.get_by_role("dialog").get_by_role("button", name="Unlock").click()
    expect(page.get_by_role("status").filter(has_text="guessed-e2e may log in again")).to_be_visible()
    expect(lock).to_have_count(0)
    assert (
        httpx.post(f"{web_server.url}/api/auth/login", json={"username": "guessed-e2e", "password": "x"}).status_code
        == 401
    )


def test_an_admin_extends_a_secret_to_a_version_that_waits_for_it(page: Page, web_server: PortalServer) -> None:
    with api_client(web_server, "ada") as ada:
        created = ada.post(
            "/api/admin/secrets", json={"name": "API_TOKEN", "value": "e2e-v4lue", "items": ["secretive@^2.0.0"]}
        )
        assert created.status_code == 201, created.text
    try:
        login(page, "ada", path="/admin/secrets")
        row = page.locator("tr[data-secret='API_TOKEN']")
        expect(row).to_contain_text("secretive 1.0.0 declares it but is not granted")
        screenshot(page, "secret-uncovered")
        row.get_by_role("button", name="Extend API_TOKEN to secretive 1.0.0").click()
        page.get_by_role("dialog").get_by_role("button", name="Extend the grant").click()
        expect(page.get_by_role("status").filter(has_text="API_TOKEN granted to secretive 1.0.0")).to_be_visible()
        expect(row).not_to_contain_text("declares it but is not granted")
        expect(row).to_contain_text("^2.0.0 || =1.0.0")
        row.get_by_role("button", name="Edit API_TOKEN").click()
        expect(page.get_by_label("Versions of secretive")).to_have_value("^2.0.0 || =1.0.0")
    finally:
        with api_client(web_server, "ada") as ada:
            assert ada.delete("/api/admin/secrets/API_TOKEN").status_code == 204


def test_swagger_ui_loads_from_the_portal_under_its_policy(page: Page) -> None:
    """Offline (only the portal's origin is reachable) and with no Content-Security-Policy violation."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    outside: list[str] = []
    page.on("request", lambda request: outside.append(request.url) if "127.0.0.1" not in request.url else None)
    login(page, "ada", path="/admin/system")
    page.goto("/api/docs")
    expect(page.get_by_role("heading", name=re.compile("Self-Service Portal"))).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    screenshot(page, "api-docs")
    assert violations == [] and outside == [], (violations, outside)
