"""The web app end to end: log in, browse, launch, watch jobs live, cancel, retry, import, and permissions."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, Request, Route, expect

from tests.e2e.conftest import api_client, axe_violations, login, screenshot
from tests.helpers import EXAMPLES, FIXTURE_CATALOG, PortalServer, git, item_files, wait_for_job, wait_until, write

# Installed in the page before launching; the app is a single page, so it stays through the app's navigations.
STATE_RECORDER = """
window.__statesSeen = [];
new MutationObserver(() => {
  const badge = document.querySelector("h1 [data-state]");
  const state = badge && badge.getAttribute("data-state");
  if (state && window.__statesSeen[window.__statesSeen.length - 1] !== state) window.__statesSeen.push(state);
}).observe(document, {subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"]});
"""


def badge(page: Page) -> Any:
    return page.locator("h1 [data-state]")


def test_login_redirects_back_and_catalog_search(page: Page) -> None:
    response = page.goto("/jobs?state=FAILED")
    assert response is not None and "script-src 'self' 'unsafe-eval';" in response.headers["content-security-policy"]
    expect(page).to_have_url(re.compile(r"/login\?next="))
    screenshot(page, "login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    login(page, "alice", path="/jobs?state=FAILED")
    expect(page).to_have_url(re.compile(r"/jobs\?state=FAILED$"))
    expect(page.get_by_label("State")).to_have_value("FAILED")

    page.goto("/catalog")
    expect(page.get_by_role("link", name="Backup network device configs")).to_be_visible()
    screenshot(page, "catalog")
    assert (violations := axe_violations(page)) == [], violations
    page.get_by_label("Search the catalog").fill("backup")
    expect(page).to_have_url(re.compile(r"[?&]q=backup"))
    expect(page.locator("main li")).to_have_count(1)
    page.get_by_role("button", name="#demo").click()
    expect(page).to_have_url(re.compile(r"tag=demo"))
    expect(page.get_by_text("No item matches these filters")).to_be_visible()
    page.get_by_role("button", name="Clear the filters").click()
    page.get_by_label("Category").select_option("demo")
    expect(page.get_by_role("link", name="Example long task")).to_be_visible()
    expect(page.get_by_role("link", name="Backup network device configs")).to_have_count(0)
    page.reload()  # the filters live in the URL
    expect(page.get_by_label("Category")).to_have_value("demo")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto("/catalog")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fcatalog"))


def test_launch_backup_config_through_its_form_and_watch_it_succeed(page: Page) -> None:
    login(page, "alice", path="/catalog/backup-config")
    versions = page.get_by_label("Version")
    expect(versions).to_have_value("2.0.0")
    expect(versions.locator("option")).to_have_text(["2.0.0 (latest)", "1.0.0 (deprecated)"])
    # The original portal's ui.json: order, enum names, radio widget, submit button text.
    ids = page.eval_on_selector_all("form.rjsf [id^=root_]", "els => els.map(e => e.id)")
    fields = ["devices", "bucket", "compression", "encryption", "schedule", "retention_days"]
    first_seen = sorted(fields, key=lambda f: next(i for i, id_ in enumerate(ids) if id_.startswith(f"root_{f}")))
    assert first_seen == fields  # ui:order, not the schema's order
    expect(page.get_by_label("No compression")).to_be_visible()
    expect(page.get_by_label("Schedule")).to_contain_text("Every week")
    page.get_by_role("button", name="Add").click()
    page.locator("#root_devices_1").fill("core-sw-02")
    bucket = page.locator("#root_bucket")
    bucket.fill("x")  # live validation, before anything is sent
    expect(page.locator(".rjsf")).to_contain_text("S3 bucket must be at least 3 characters long")
    bucket.fill("e2e-backups")
    page.get_by_label("zstd").check()
    screenshot(page, "item")
    assert (violations := axe_violations(page)) == [], violations
    # Record every state the job page's badge shows, to see it change in place (no reload, no polling).
    page.evaluate(STATE_RECORDER)
    page.get_by_role("button", name="Start backup").click()

    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    expect(badge(page)).to_have_attribute("data-state", "SUCCEEDED", timeout=30_000)
    seen = page.evaluate("window.__statesSeen")  # a reload would have lost the recorder and its list
    assert seen[-1] == "SUCCEEDED" and {"QUEUED", "RUNNING"} & set(seen), seen
    expect(page.get_by_role("group", name="Result")).to_contain_text("e2e-backups")
    expect(page.get_by_role("group", name="Inputs")).to_contain_text("core-sw-02")
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.locator("ol li").filter(has_text="Running → Succeeded")).to_have_count(1)
    # One name per state, and a bar coloured by how the job ended.
    expect(badge(page)).to_have_text("Succeeded")
    bar = page.locator("[role=progressbar][data-progress-state=SUCCEEDED] > div")
    expect(bar).to_have_class(re.compile("bg-green-600"))
    screenshot(page, "job")
    assert (violations := axe_violations(page)) == [], violations

    page.get_by_role("link", name="Run again").click()
    expect(page.get_by_role("heading", name=re.compile(r"Run again"))).to_be_visible()
    expect(page.locator("#root_bucket")).to_have_value("e2e-backups")
    expect(page.locator("#root_devices_1")).to_have_value("core-sw-02")


def test_states_read_the_same_everywhere_and_a_silent_finished_job_says_no_output(
    page: Page, web_server: PortalServer
) -> None:
    with api_client(web_server, "alice") as alice:
        failed = alice.post("/api/jobs", json={"item_id": "failing-task", "inputs": {}}).json()["id"]
        quiet = alice.post("/api/jobs", json={"item_id": "noop", "inputs": {}}).json()["id"]
        wait_for_job(alice, failed, {"FAILED"})
        wait_for_job(alice, quiet, {"SUCCEEDED"})
    login(page, "alice", path="/jobs")
    failed_row = page.locator(f"tr[data-job-id='{failed}']")
    expect(failed_row.locator("[data-state=FAILED]").first).to_have_text("Failed")
    expect(failed_row.locator("[role=progressbar] > div")).to_have_class(re.compile("bg-red-600"))
    quiet_row = page.locator(f"tr[data-job-id='{quiet}']")
    expect(quiet_row.locator("[role=progressbar] > div")).to_have_class(re.compile("bg-green-600"))
    expect(page.get_by_label("State")).to_contain_text("Pending approval")
    page.goto(f"/jobs/{quiet}")
    expect(page.get_by_test_id("job-log")).to_have_text("No output.")


def test_a_server_side_form_error_is_shown_on_its_field(page: Page) -> None:
    login(page, "alice", path="/catalog/backup-config/2.0.0")

    # The form checks inputs before sending them; to see the server's own verdict, send a value the
    # form would refuse, as an out-of-date client would: the real server answers 422 with the field.
    def tamper(route: Route, request: Request) -> None:
        body = json.loads(request.post_data or "{}")
        body["inputs"]["bucket"] = "Not A Bucket!"
        route.continue_(post_data=json.dumps(body))

    page.route("**/api/jobs", tamper)
    page.get_by_role("button", name="Start backup").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match the schema")
    field = page.locator(".rjsf-field-string.has-error", has=page.locator("#root_bucket"))
    expect(field).to_contain_text("S3 bucket is not valid: Name of the S3 bucket")
    expect(page).to_have_url(re.compile(r"/catalog/backup-config/2.0.0$"))


def test_jobs_table_updates_live_without_refetching(page: Page, web_server: PortalServer) -> None:
    with page.expect_response(lambda r: "/api/jobs?" in r.url):
        login(page, "alice", path="/jobs")
    expect(page.locator("[data-connection=open]")).to_be_visible()
    list_requests: list[str] = []
    page.on("request", lambda r: list_requests.append(r.url) if "/api/jobs?" in r.url else None)
    with api_client(web_server, "alice") as alice:
        job_id = alice.post("/api/jobs", json={"item_id": "example-long-task", "inputs": {}}).json()["id"]
        row = page.locator(f"tr[data-job-id='{job_id}']")
        expect(row).to_have_attribute("data-state", "RUNNING", timeout=20_000)
        expect(row.get_by_role("progressbar")).not_to_have_attribute("aria-valuenow", "0")
        screenshot(page, "jobs")
        expect(row).to_have_attribute("data-state", "SUCCEEDED", timeout=20_000)
        assert row.get_by_role("progressbar").get_attribute("aria-valuenow") == "100"
    assert list_requests == []
    assert (violations := axe_violations(page)) == [], violations


def test_cancel_a_running_example_long_task(page: Page, web_server: PortalServer) -> None:
    login(page, "alice", path="/catalog/example-long-task")
    # Launched from its form (no ui.json: its button is named after it), so the five-second task has only just
    # started when its page opens.
    page.get_by_role("button", name="Run Example long task").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    job_id = int(page.url.rsplit("/", 1)[1])
    with api_client(web_server, "alice") as alice:
        expect(badge(page)).to_have_attribute("data-state", "RUNNING", timeout=20_000)
        page.get_by_role("button", name=f"Cancel job {job_id}").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text(f"Cancel job #{job_id}?")
        dialog.get_by_role("button", name="Cancel job").click()
        expect(badge(page)).to_have_attribute("data-state", "CANCELLED", timeout=15_000)
        assert alice.get(f"/api/jobs/{job_id}").json()["state"] == "CANCELLED"
    expect(page.get_by_role("button", name=f"Cancel job {job_id}")).to_have_count(0)
    expect(page.get_by_role("button", name=f"Retry job {job_id}")).to_be_visible()


def test_retry_a_failed_job_and_follow_the_links(page: Page, web_server: PortalServer) -> None:
    with api_client(web_server, "alice") as alice:
        failed = alice.post("/api/jobs", json={"item_id": "failing-task", "inputs": {}}).json()["id"]
        wait_for_job(alice, failed, {"FAILED"})
    login(page, "alice", path=f"/jobs/{failed}")
    expect(page.get_by_role("heading", name="RuntimeError")).to_be_visible()
    page.get_by_text("Traceback", exact=True).click()
    expect(page.locator("details pre")).to_contain_text("RuntimeError")
    expect(page.get_by_test_id("job-log")).to_contain_text("about to fail on purpose")
    page.get_by_role("button", name=f"Retry job {failed}").click()
    expect(page).not_to_have_url(re.compile(rf"/jobs/{failed}$"))
    expect(page.get_by_text(re.compile(rf"^Retry of #{failed}$"))).to_be_visible()
    retry_url = page.url
    # Its own log only: one line, not the first job's line carried over.
    expect(page.get_by_role("heading", name="Log (1 line)")).to_be_visible()
    page.get_by_role("link", name=f"#{failed}").click()
    expect(page).to_have_url(re.compile(rf"/jobs/{failed}$"))
    retry_id = retry_url.rsplit("/", 1)[1]
    expect(page.get_by_text(re.compile(rf"^Retried as #{retry_id}$"))).to_be_visible()
    expect(page.get_by_role("link", name=f"#{retry_id}")).to_be_visible()

    # A second retry asks first, naming the earlier one; declined, nothing is created.
    page.get_by_role("button", name=f"Retry job {failed}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"already retried as job #{retry_id}")
    dialog.get_by_role("button", name="Keep it").click()
    expect(page).to_have_url(re.compile(rf"/jobs/{failed}$"))
    # The jobs table says so on the row of the retried job.
    page.goto("/jobs")
    marker = page.locator(f"tr[data-job-id='{failed}'] [data-retried-as='{retry_id}']")
    expect(marker).to_have_text(f"retried as #{retry_id}")
    page.get_by_role("button", name=f"Retry job {failed}").click()
    page.get_by_role("dialog").get_by_role("button", name="Retry again").click()
    with api_client(web_server, "alice") as alice:
        assert wait_until(lambda: len(alice.get(f"/api/jobs/{failed}").json()["retries"]) == 2)
        newest = alice.get(f"/api/jobs/{failed}").json()["retries"][-1]
    expect(page.locator(f"tr[data-job-id='{failed}'] [data-retried-as]")).to_have_text(f"retried as #{newest}")


def test_a_long_timeline_shows_its_newest_events_and_pages_earlier_ones(page: Page, web_server: PortalServer) -> None:
    with api_client(web_server, "alice") as alice:
        created = alice.post("/api/jobs", json={"item_id": "chatty", "inputs": {"lines": 1, "progress_steps": 200}})
        job = wait_for_job(alice, created.json()["id"], {"SUCCEEDED"}, timeout=60)
        job = alice.get(f"/api/jobs/{job['id']}").json()
    assert job["events_total"] > len(job["events"]) == 100, job["events_total"]
    login(page, "alice", path=f"/jobs/{job['id']}")
    timeline = page.get_by_role("region", name="Timeline")
    expect(timeline.get_by_role("listitem")).to_have_count(100)
    expect(timeline.get_by_role("listitem").last).to_contain_text("Succeeded")
    earlier = job["events_total"] - 100
    timeline.get_by_role("button", name=f"Show the {earlier} earlier events").click()
    expect(timeline.get_by_role("listitem")).to_have_count(job["events_total"])
    expect(timeline.get_by_role("listitem").first).to_contain_text("Queued")
    expect(timeline.get_by_role("button")).to_have_count(0)


def _bundle(item_id: str, manifest_extra: str = "") -> bytes:
    files = {
        f"{item_id}/1.0.0/manifest.yaml": f"id: {item_id}\nname: Uploaded {item_id}\nversion: 1.0.0\n"
        f"entrypoint: task.py\ncategory: e2e\n{manifest_extra}",
        f"{item_id}/1.0.0/schema.json": '{"type": "object"}',
        f"{item_id}/1.0.0/task.py": "def run(inputs):\n    return {'ok': True}\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_upload_a_bundle_through_the_import_dialog(page: Page) -> None:
    login(page, "paul", path="/catalog")
    page.get_by_role("button", name="Import…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="Upload bundle").click()
    upload = dialog.get_by_test_id("bundle-input")

    upload.set_input_files(
        {"name": "broken.tar.gz", "mimeType": "application/gzip", "buffer": _bundle("e2e-broken", "colour: red\n")}
    )
    expect(dialog.get_by_role("list", name="Problems")).to_contain_text("manifest.yaml:6 unknown key 'colour'")
    expect(dialog.get_by_role("button", name="Import", exact=True)).to_be_disabled()

    upload.set_input_files({"name": "good.tar.gz", "mimeType": "application/gzip", "buffer": _bundle("e2e-uploaded")})
    expect(dialog).to_contain_text("Ready to import: e2e-uploaded 1.0.0")
    screenshot(page, "import")
    dialog.get_by_role("button", name="Import", exact=True).click()
    expect(dialog.get_by_role("status")).to_contain_text("e2e-uploaded 1.0.0 — imported")
    dialog.get_by_role("button", name="Close").click()
    expect(page.get_by_role("link", name="Uploaded e2e-uploaded")).to_be_visible()


def test_git_import_through_the_dialog_shows_the_job(page: Page, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo / "items" / "e2e-git", item_files("e2e-git", "1.0.0"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "e2e-git 1.0.0")
    git(repo, "tag", "e2e-git@1.0.0")
    login(page, "paul", path="/catalog")
    page.get_by_role("button", name="Import…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="Git").click()
    dialog.get_by_label("Repository URL").fill(f"file://{repo}")
    dialog.get_by_label("Item id").fill("e2e-git")
    dialog.get_by_label("Version", exact=True).fill("1.0.0")
    dialog.get_by_role("button", name="Import", exact=True).click()
    expect(dialog.locator("[data-state]")).to_have_attribute("data-state", "SUCCEEDED", timeout=30_000)
    dialog.get_by_role("link", name=re.compile(r"Import job #\d+")).click()
    expect(page.get_by_role("group", name="Result")).to_contain_text("e2e-git")
    import_id = page.url.rstrip("/").rsplit("/", 1)[-1]

    # The jobs table names each job's type and filters on it.
    page.goto("/jobs")
    expect(page.locator(f"tr[data-job-id='{import_id}'] td[data-kind]")).to_have_text("Import")
    page.get_by_label("Type").select_option(label="Run")
    expect(page).to_have_url(re.compile(r"kind=catalog_execution"))
    expect(page.locator(f"tr[data-job-id='{import_id}']")).to_have_count(0)
    page.get_by_label("Type").select_option(label="Import")
    expect(page.locator("td[data-kind]")).not_to_have_count(0)
    expect(page.locator("td[data-kind]:not([data-kind='catalog_import'])")).to_have_count(0)


def test_local_folder_preview_in_the_dialog(page: Page, sources_root: Path) -> None:
    login(page, "paul", path="/catalog")
    page.get_by_role("button", name="Import…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Folder on the server").fill("/etc")
    dialog.get_by_role("button", name="Check").click()
    expect(dialog.get_by_role("list", name="Problems")).to_contain_text("not under an allowed catalog root")
    # The allowed folders are listed, and a path may be relative to one of them.
    expect(dialog.get_by_test_id("local-roots").locator("li")).to_have_text(
        [str(EXAMPLES.resolve()), str(FIXTURE_CATALOG.resolve()), str(sources_root.resolve())]
    )
    dialog.get_by_label("Folder on the server").fill("items/chatty")
    dialog.get_by_role("button", name="Check").click()
    expect(dialog).to_contain_text("Ready to import: chatty 1.0.0")
    dialog.get_by_role("button", name="Import", exact=True).click()
    expect(dialog.get_by_role("status")).to_contain_text("chatty 1.0.0 — unchanged")


def test_dark_theme_passes_the_accessibility_check(page: Page) -> None:
    login(page, "olga", path="/jobs")
    page.get_by_role("button", name="Switch to dark theme").click()
    expect(page.locator("html")).to_have_class(re.compile("dark"))
    page.reload()  # the choice is remembered
    expect(page.locator("html")).to_have_class(re.compile("dark"))
    expect(page.locator("tbody tr[data-job-id]").first).to_be_visible()
    screenshot(page, "jobs-dark")
    assert (violations := axe_violations(page)) == [], violations
    page.goto("/catalog/backup-config")
    expect(page.get_by_role("button", name="Start backup")).to_be_visible()
    assert (violations := axe_violations(page)) == [], violations


def test_a_requester_sees_no_imports_and_the_api_refuses_them(page: Page) -> None:
    login(page, "alice", path="/catalog")
    expect(page.get_by_role("link", name="Example long task")).to_be_visible()
    expect(page.get_by_role("button", name="Import…")).to_have_count(0)
    status = page.evaluate(
        """async () => {
            const csrf = document.cookie.match(/portal_csrf=([^;]+)/)[1];
            const response = await fetch('/api/catalog/local/import', {
                method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                body: JSON.stringify({path: '/tmp'}),
            });
            return response.status;
        }"""
    )
    assert status == 403


def test_unknown_pages_say_so(page: Page) -> None:
    login(page, "olga", path="/no/such/page")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.goto("/jobs/999999")
    expect(page.get_by_role("heading", name="No such job")).to_be_visible()


def test_forbidden_and_missing_pages_say_why_and_lead_back(page: Page, web_server: PortalServer) -> None:
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    login(page, "alice", path="/admin")
    expect(page.get_by_text("This page needs the operator role")).to_be_visible()
    expect(page.get_by_text("You are signed in as a requester")).to_be_visible()
    page.get_by_role("link", name="Back to the catalog").click()
    expect(page).to_have_url(re.compile(r"/catalog$"))

    page.goto("/catalog/backup-config/9.9.9")
    expect(page.get_by_role("heading", name="No version 9.9.9 of backup-config")).to_be_visible()
    page.get_by_role("link", name="Back to the item").click()
    expect(page).to_have_url(re.compile(r"/catalog/backup-config$"))

    page.goto("/jobs/987654")
    expect(page.get_by_role("heading", name="No such job")).to_be_visible()
    with api_client(web_server, "bob") as bob:
        bobs = bob.post("/api/jobs", json={"item_id": "noop", "inputs": {}}).json()["id"]
    page.goto(f"/jobs/{bobs}")  # not alice's to see
    expect(page.get_by_role("heading", name="No such job")).to_be_visible()
    page.wait_for_timeout(500)  # a socket the page would open starts at once
    assert not [url for url in sockets if "/ws/jobs/987654" in url or f"/ws/jobs/{bobs}" in url], sockets


def test_a_viewer_is_not_invited_to_run_items(page: Page) -> None:
    login(page, "vera", path="/catalog/backup-config")
    expect(page.get_by_role("heading", name="What this item asks for")).to_be_visible()
    expect(page.get_by_text("Backup network device configs")).to_have_count(1)  # the name once, not in the form too
    expect(page.get_by_role("heading", name="Run this item")).to_have_count(0)
    expect(page.get_by_text("Your role may browse the catalog but not run items.")).to_be_visible()
    page.goto("/jobs")
    expect(page.get_by_text("No jobs yet")).to_be_visible()
    expect(page.get_by_role("link", name="Launch one from the catalog")).to_have_count(0)
