"""Job history retention on SQLite and PostgreSQL: finished jobs past their item's retention go with everything
that hangs on them, in batches; those past the log retention keep their summary only; unfinished jobs, recent
ones and items that keep theirs for ever stay; afterwards the counters and hourly rollups equal a recount."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from portal.audit import retention as audit_retention
from portal.audit.models import AuditEntry
from portal.catalog import service as catalog_service
from portal.catalog.models import CatalogItem
from portal.db import session as db
from portal.db.base import utcnow
from portal.identity.principal import SYSTEM
from portal.jobs import counters, kinds, retention, usage, writer
from portal.jobs import queries as jobs_queries
from portal.jobs import service as jobs_service
from portal.jobs.models import (
    Job,
    JobCount,
    JobEvent,
    JobHourly,
    JobLog,
    JobOwnerCount,
    JobUsage,
    JobUsageBucket,
)
from portal.jobs.states import JobState
from tests.conftest import migrated_database
from tests.helpers import item_files, write

NOW = utcnow()
# the usage's columns but its peak memory (a maximum is not subtracted)
USAGE_COLUMNS = (
    *("span", "day", "item_id", "version"),
    *("runs", "succeeded", "failed", "cancelled", "timed", "duration_ms_sum"),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def portal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    settings = {
        "catalog_load_examples": False,
        "job_retention_days": 30,
        "job_log_retention_days": 7,
        "audit_retention_days": 90,
    }
    with migrated_database(request, tmp_path / "data", **settings):
        for item in ("kept", "forever"):
            write(tmp_path / "items" / item / "1.0.0", item_files(item, "1.0.0"))
        catalog_service.import_local(SYSTEM, str(tmp_path / "items"), enforce_roots=False)
        with db.write() as s:
            s.execute(update(CatalogItem).where(CatalogItem.id == "forever").values(job_retention_days=0))
        yield


def job(item: str, days_ago: float, state: str = "SUCCEEDED", logs: int = 3) -> int:
    """A job of `item` created and finished `days_ago` days ago, with a result, logs and a progress report."""
    created = jobs_service.create_job(SYSTEM, item, "1.0.0", {}).id
    at = NOW - timedelta(days=days_ago)
    finished = state in ("SUCCEEDED", "FAILED", "CANCELLED")
    with db.write() as s:
        s.execute(
            update(Job)
            .where(Job.id == created)
            .values(
                state=state,
                created_at=at,
                started_at=at + timedelta(seconds=1),
                finished_at=at + timedelta(seconds=3) if finished else None,
                result={"big": "x" * 100} if finished else None,
            )
        )
        s.execute(update(JobEvent).where(JobEvent.job_id == created).values(at=at))
        s.execute(insert(JobEvent), [{"job_id": created, "at": at, "kind": "progress", "progress": 50}])
        s.execute(
            insert(JobLog), [{"job_id": created, "at": at, "stream": "stdout", "line": f"l{n}"} for n in range(logs)]
        )
    return created


def counter_tables() -> dict[str, Any]:
    with db.read() as s:
        return {
            "counts": sorted(
                (r.state, r.queue, r.item_id, r.n) for r in s.scalars(select(JobCount).where(JobCount.n != 0))
            ),
            "owners": sorted(
                (r.created_by, r.state, r.item_id, r.n)
                for r in s.scalars(select(JobOwnerCount).where(JobOwnerCount.n != 0))
            ),
            "hourly": sorted(
                (r.hour, r.item_id, r.created, r.succeeded, r.failed, r.cancelled, r.duration_ms_sum, r.duration_ms_max)
                for r in s.scalars(select(JobHourly))
            ),
            # the usage per version in blocks of every span
            "daily": sorted(tuple(getattr(r, name) for name in USAGE_COLUMNS) for r in s.scalars(select(JobUsage))),
            "durations": sorted(
                (r.span, r.day, r.item_id, r.version, r.part, *(getattr(r, name) for name in usage.COUNTS))
                for r in s.scalars(select(JobUsageBucket))
            ),
        }


def test_retention_prunes_in_batches_and_leaves_the_counters_equal_to_a_recount(
    portal: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = [job("kept", 40 + n / 10, state) for n, state in enumerate(["SUCCEEDED", "FAILED", "CANCELLED"] * 4)]
    old_forever = job("forever", 40)
    old_test = job("kept", 40)
    with db.write() as s:  # an item test's job: the evidence its version is judged on
        s.execute(update(Job).where(Job.id == old_test).values(kind=kinds.TEST))
    old_running = job("kept", 40, state="RUNNING")
    middle = job("kept", 10)
    recent = job("kept", 1)
    with db.write() as s:  # a retry of an old job: it stays, its link to the old one goes
        s.execute(update(Job).where(Job.id == recent).values(retry_of=old[0]))
        counters.rebuild(s.connection())
        usage.rebuild(s.connection())
    daily_before = counter_tables()["daily"]
    monkeypatch.setattr(retention, "BATCH", 5)

    report = retention.prune(NOW)
    assert report.deleted == len(old) and report.trimmed == 1  # the middle job; the item kept for ever keeps all
    assert report.batches == 4  # the 16 jobs older than the newest cutoff, 5 a batch

    with db.read() as s:
        ids = set(s.scalars(select(Job.id)))
        assert ids.isdisjoint(old) and {old_forever, old_test, old_running, middle, recent} <= ids
        assert s.scalar(select(func.count()).where(JobLog.job_id.in_([old_forever, old_test]))) == 6
        assert s.scalar(select(func.count()).where(JobLog.job_id.in_(old))) == 0
        assert s.scalar(select(func.count()).where(JobEvent.job_id.in_(old))) == 0
        trimmed = s.get(Job, middle)
        assert trimmed is not None and trimmed.pruned_at is not None and trimmed.result is None
        assert s.scalar(select(func.count()).where(JobLog.job_id == middle)) == 0
        event_kinds = set(s.scalars(select(JobEvent.kind).where(JobEvent.job_id == middle)))
        assert event_kinds == {"state"}  # its transitions stay
        untouched = s.get(Job, recent)
        assert untouched is not None and untouched.pruned_at is None and untouched.retry_of is None
        assert s.scalar(select(func.count()).where(JobLog.job_id == recent)) == 3
        assert (s.scalar(select(func.count()).where(AuditEntry.action == "jobs.prune")) or 0) >= 1

    pruned = counter_tables()
    assert len(pruned["daily"]) < len(daily_before)  # the old runs left the daily usage
    with db.write() as s:
        counters.rebuild(s.connection())
        usage.rebuild(s.connection())
    assert pruned == counter_tables()
    assert jobs_queries.get_job(SYSTEM, middle).pruned_at is not None

    again = retention.prune(NOW)
    assert (again.deleted, again.trimmed) == (0, 0)


def test_audit_entries_past_their_retention_go_and_say_so(portal: None) -> None:
    with db.write() as s:
        s.execute(
            insert(AuditEntry),
            [
                {"at": NOW - timedelta(days=days), "actor_name": "t", "action": "test.old", "details": {}}
                for days in (100, 95, 10)
            ],
        )
    assert audit_retention.prune(NOW) == 2
    with db.read() as s:
        left = list(s.scalars(select(AuditEntry.at).where(AuditEntry.action == "test.old")))
        assert len(left) == 1 and left[0] > NOW - timedelta(days=11)
        assert s.scalar(select(func.count()).where(AuditEntry.action == "audit.prune")) == 1


class _SqliteOnly:
    """What `migrated_database` reads of a fixture request: an SQLite database."""

    param = "sqlite"


def test_nothing_is_pruned_when_everything_is_kept_for_ever(tmp_path: Path) -> None:
    with migrated_database(_SqliteOnly(), tmp_path / "data", catalog_load_examples=False):  # type: ignore[arg-type]
        assert retention.prune(NOW + timedelta(days=10_000)) == retention.PruneReport()
        assert audit_retention.prune() == 0


def test_a_recount_and_the_next_job_share_one_rollup_row_per_hour(portal: None) -> None:
    jobs_service.create_job(SYSTEM, "kept", "1.0.0", {})
    with db.write() as s:
        counters.rebuild(s.connection())
    jobs_service.create_job(SYSTEM, "kept", "1.0.0", {})  # the counters' upsert, after a recount's insert
    with db.read() as s:
        rows = list(s.scalars(select(JobHourly).where(JobHourly.item_id == "kept")))
    assert [(r.hour, r.created) for r in rows] == [(counters.hour_of(utcnow()), 2)]


def test_a_job_is_counted_in_the_hour_it_is_stored_as_finished(portal: None) -> None:
    created = jobs_service.create_job(SYSTEM, "forever", "1.0.0", {}).id
    finished = NOW - timedelta(hours=2)  # not the hour of the transition: the rollup follows the stored time
    with db.write() as s:
        writer.transition(s, created, JobState.QUEUED, JobState.CANCELLED, {"finished_at": finished})
    with db.read() as s:
        row = s.get(JobHourly, (counters.hour_of(finished), "forever"))
    assert row is not None and row.cancelled == 1


def test_bounded_runs_resume_where_the_last_stopped(portal: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(6):
        job("forever", 40)  # kept for ever, at the front of the id order
    due = [job("kept", 40) for _ in range(3)]
    with db.write() as s:
        counters.rebuild(s.connection())
        usage.rebuild(s.connection())
    monkeypatch.setattr(retention, "BATCH", 5)
    first = retention.prune(NOW, max_batches=1)
    assert (first.deleted, first.resume_after > 0) == (0, True)
    second = retention.prune(NOW, max_batches=1, after=first.resume_after)
    assert second.deleted == len(due) and second.resume_after == 0  # it reached the newer jobs: start over
