"""What the form says about inputs: schema errors in words, named by the fields' titles; a refusal of the item's
`validate` under its field, and no job; a job refused in its run reads "Rejected", with no traceback or Retry."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import api_client, login
from tests.helpers import PortalServer, wait_for_job


def test_a_refused_input_shows_under_its_field_and_no_job_is_created(page: Page, web_server: PortalServer) -> None:
    with api_client(web_server, "alice") as alice:
        before = alice.get("/api/jobs", params={"item_id": "user-registration"}).json()["total"]
    login(page, "alice", path="/catalog/user-registration")
    page.locator("#root_username").fill("admin")
    page.locator("#root_email").fill("admin@example.com")
    page.locator("#root_full_name").fill("Ada Admin")
    page.get_by_role("button", name="Create user").click()
    field = page.locator(".rjsf-field-string.has-error", has=page.locator("#root_username"))
    expect(field).to_contain_text("'admin' is reserved, choose another name")
    expect(page.get_by_role("alert")).to_contain_text("refused the inputs")
    expect(page).to_have_url(re.compile(r"/catalog/user-registration$"))
    with api_client(web_server, "alice") as alice:
        assert alice.get("/api/jobs", params={"item_id": "user-registration"}).json()["total"] == before


def test_a_job_refused_in_its_run_reads_rejected(page: Page, web_server: PortalServer) -> None:
    with api_client(web_server, "alice") as alice:
        created = alice.post("/api/jobs", json={"item_id": "late-validating", "inputs": {"name": "forbidden"}})
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        wait_for_job(alice, job_id, {"REJECTED"})
    login(page, "alice", path=f"/jobs/{job_id}")
    expect(page.locator("h1 [data-state=REJECTED]")).to_have_text("Rejected")
    rejected = page.get_by_test_id("job-rejected")
    expect(rejected).to_contain_text("The item refused the input name")
    expect(rejected).to_contain_text("the name 'forbidden' is reserved")
    expect(page.get_by_text("Traceback")).to_have_count(0)
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)
    expect(page.locator("[role=progressbar] > div")).to_have_class(re.compile("bg-orange-500"))


def test_schema_errors_read_in_words_with_the_field_titles(page: Page) -> None:
    login(page, "alice", path="/catalog/backup-config/2.0.0")
    page.locator("#root_retention_days").fill("0")
    retention = page.locator(".rjsf-field.has-error", has=page.locator("#root_retention_days"))
    expect(retention).to_contain_text("Retention (days) must be 1 or more")
    page.locator("#root_bucket").fill("No")
    bucket = page.locator(".rjsf-field.has-error", has=page.locator("#root_bucket"))
    expect(bucket).to_contain_text("S3 bucket must be at least 3 characters long")
    expect(page.get_by_text(re.compile("must be >=|must NOT have|must match pattern"))).to_have_count(0)
