"""A job may not store without bound: its progress is sampled in storage (transitions all kept), and its
timeline is paged. Attacked with a chatty job on a real server, and with an hour-long job's reports replayed
straight into the job service on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from portal.audit.models import AuditEntry
from portal.catalog import service as catalog_service
from portal.db import session as db
from portal.db.base import utcnow
from portal.identity.principal import SYSTEM
from portal.jobs import history
from portal.jobs import queries as jobs_queries
from portal.jobs import service as jobs_service
from portal.jobs.models import Job
from tests.conftest import migrated_database
from tests.helpers import FIXTURE_CATALOG, PortalServer, item_files, wait_for_job, write


def timeline(client: httpx.Client, job_id: int, limit: int) -> list[dict[str, Any]]:
    """Every event of a job, following the pages."""
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = client.get(f"/api/jobs/{job_id}/events", params={"after": after, "limit": limit})
        assert page.status_code == 200, page.text
        events += page.json()["items"]
        if page.json()["next_after"] is None:
            return events
        after = page.json()["next_after"]


def test_a_chatty_jobs_stored_progress_stays_bounded_and_pages(tmp_path: Path) -> None:
    settings = {
        "PORTAL_JOB_PROGRESS_PER_SECOND": "1000",  # the runner passes every report on
        "PORTAL_JOB_PROGRESS_EVENT_SECONDS": "0.05",
        "PORTAL_JOB_PROGRESS_EVENTS": "20",
    }
    server = PortalServer(tmp_path / "data", settings).start()
    try:
        with server.client(server.token_for("admin")) as admin:
            assert admin.post("/api/catalog/local/import", json={"path": str(FIXTURE_CATALOG)}).status_code == 200
            created = admin.post("/api/jobs", json={"item_id": "chatty", "inputs": {"lines": 1, "progress_steps": 300}})
            assert created.status_code == 201, created.text
            job = wait_for_job(admin, created.json()["id"], {"SUCCEEDED", "FAILED"}, timeout=60)
            assert job["state"] == "SUCCEEDED", job["error"]
            events = timeline(admin, job["id"], limit=4)
            progress = [e for e in events if e["kind"] == "progress"]
            # 300 reports, at most 20 kept, in order, spread over the run: the last one as is.
            assert 3 <= len(progress) <= 20, len(progress)
            assert progress[0]["progress"] < 50 and progress[-1]["message"] == "step 300"
            assert progress[-1]["progress"] == 100
            assert [e["to_state"] for e in events if e["to_state"]] == ["QUEUED", "RUNNING", "SUCCEEDED"]
            assert [e["id"] for e in events] == sorted(e["id"] for e in events)
            assert job["events_total"] == len(events) and job["events"] == events
            assert admin.get(f"/api/jobs/{job['id']}/events", params={"limit": 0}).status_code == 422
            assert admin.get(f"/api/jobs/{job['id']}/events", params={"after": 2**64}).status_code == 422
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def queued_job(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    with migrated_database(request, tmp_path / "data", catalog_load_examples=False):
        write(tmp_path / "items" / "long", item_files("long", "1.0.0"))
        catalog_service.import_local(SYSTEM, str(tmp_path / "items"), enforce_roots=False)
        yield jobs_service.create_job(SYSTEM, "long", "1.0.0", {}).id


def test_an_hour_of_progress_twice_a_second_keeps_a_few_hundred_samples_spread_over_it(queued_job: int) -> None:
    started = utcnow()
    reports = 2 * 3600
    with db.write() as s:
        conn = s.connection()
        for n in range(reports):
            at = started + timedelta(seconds=n / 2)
            history.store_progress(conn, queued_job, at, started, n * 100 // reports, f"report {n}")
    detail = jobs_queries.get_job(SYSTEM, queued_job)
    page = jobs_queries.get_events(SYSTEM, queued_job, 0, 1000)
    progress = [e for e in page.items if e.kind == "progress"]
    assert 100 <= len(progress) <= 200, len(progress)  # the default PORTAL_JOB_PROGRESS_EVENTS, sampled
    # Each sample is the last report of its window: the first is from the first second, the last is the last.
    assert progress[0].message in ("report 0", "report 1") and progress[-1].message == f"report {reports - 1}"
    gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(progress)]
    assert max(gaps) <= 4 * 3600 / len(progress), max(gaps)  # spread over the hour, no long hole
    assert page.items[0].to_state == "QUEUED"  # the transition stays
    # The detail holds the newest 100, and says how many there are in all.
    assert len(detail.events) == jobs_queries.DETAIL_EVENTS and detail.events_total == len(page.items)
    assert [e.id for e in detail.events] == [e.id for e in page.items[-jobs_queries.DETAIL_EVENTS :]]


def test_asking_to_cancel_a_running_job_again_records_nothing_more(queued_job: int) -> None:
    """A job whose worker is gone stays RUNNING until the reaper: a script cancelling it in a loop must not grow
    its timeline or the audit trail."""
    with db.write() as s:
        s.execute(update(Job).where(Job.id == queued_job).values(state="RUNNING", started_at=utcnow()))
    first = jobs_service.cancel_job(SYSTEM, queued_job)
    assert first.cancel_requested
    for _ in range(5):
        again = jobs_service.cancel_job(SYSTEM, queued_job)
        assert again.cancel_requested and again.rev == first.rev
    events = jobs_queries.get_events(SYSTEM, queued_job, 0, 1000).items
    assert [e.kind for e in events].count("cancel") == 1
    with db.read() as s:
        audited = s.scalar(select(func.count()).where(AuditEntry.action == "job.cancel"))
    assert audited == 1
