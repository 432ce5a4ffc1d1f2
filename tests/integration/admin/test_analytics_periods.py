"""Analytics over a long history: for periods of many lengths and alignments, the figures read from the usage
blocks (1 to 64 days) equal plain SQL over the jobs that finished on those days, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from portal.admin import analytics, analytics_usage
from portal.catalog import service as catalog_service
from portal.db import session as db
from portal.db.base import utcnow
from portal.identity.principal import SYSTEM
from portal.jobs import retention, usage
from portal.jobs import service as jobs_service
from portal.jobs.models import Job
from tests.conftest import migrated_database
from tests.helpers import item_files, write

VERSIONS = [("busy", "1.0.0"), ("busy", "1.1.0"), ("busy", "1.1.0"), ("quiet", "2.0.0")]


@pytest.fixture(params=["sqlite", "postgresql"])
def history(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """160 runs finished over the last 400 days, the usage recounted from them."""
    with migrated_database(request, tmp_path / "data", catalog_load_examples=False, job_retention_days=200):
        for item, version in set(VERSIONS):
            write(tmp_path / "items" / item / version, item_files(item, version))
        catalog_service.import_local(SYSTEM, str(tmp_path / "items"), enforce_roots=False)
        rng = random.Random(15)
        now = utcnow()
        for _ in range(160):
            item, version = rng.choice(VERSIONS)
            job_id = jobs_service.create_job(SYSTEM, item, version, {}).id
            finished = now - timedelta(days=rng.uniform(0, 400))
            took = timedelta(milliseconds=int(math.exp(rng.gauss(7, 1.5))))
            values = {
                "state": rng.choice(["SUCCEEDED", "SUCCEEDED", "FAILED", "CANCELLED"]),
                "started_at": finished - took,
                "finished_at": finished,
                "cpu_ms": rng.randrange(1000),
                "max_rss_kb": rng.randrange(10_000, 90_000),
            }
            with db.write() as s:
                s.execute(update(Job).where(Job.id == job_id).values(**values))
        with db.write() as s:
            usage.rebuild(s.connection())
        yield


def _nearest_rank(values: list[int], share: float) -> int:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


@pytest.mark.usefixtures("history")
def test_every_period_counts_the_runs_of_its_days_exactly() -> None:
    with db.read() as s:
        jobs = s.execute(
            select(
                Job.item_id, Job.item_version, Job.state, Job.started_at, Job.finished_at, Job.cpu_ms, Job.max_rss_kb
            )
        ).all()
    now = utcnow()
    periods = [(0, 1), (0, 7), (3, 30), (0, 90), (17, 64), (40, 200), (0, 366), (5, 300), (1, 129), (33, 65)]
    for back, days in periods:
        until = now - timedelta(days=back)
        answer = analytics.items(until - timedelta(days=days), until)
        first, last = answer.since, answer.until
        expected: dict[tuple[str, str], list[Any]] = {}
        for job in jobs:
            if first <= job.finished_at < last:
                expected.setdefault((job.item_id, job.item_version), []).append(job)
        reported = {(i.item_id, v.version): v for i in answer.items for v in i.versions}
        assert set(reported) == set(expected), (back, days)
        for key, runs in expected.items():
            figures = reported[key]
            states = [run.state for run in runs]
            durations = [usage.duration_ms(run.started_at, run.finished_at) for run in runs]
            assert figures.runs == len(runs)
            assert (figures.succeeded, figures.failed, figures.cancelled) == tuple(
                states.count(state) for state in ("SUCCEEDED", "FAILED", "CANCELLED")
            )
            assert figures.cpu_ms == sum(run.cpu_ms for run in runs)
            assert figures.max_rss_kb == max(run.max_rss_kb for run in runs)
            assert figures.avg_ms == sum(durations) // len(durations)
            assert figures.p50_ms == usage.bucket_middle(usage.bucket_of(_nearest_rank(durations, 0.5)))
            assert figures.p95_ms == usage.bucket_middle(usage.bucket_of(_nearest_rank(durations, 0.95)))
        for usage_of_item in answer.items:
            assert usage_of_item.runs == sum(v.runs for v in usage_of_item.versions)
        assert answer.total_items == len({item_id for item_id, _ in expected})


@pytest.mark.usefixtures("history")
def test_closed_days_are_read_once_until_the_retention_changes_them() -> None:
    year = (utcnow() - timedelta(days=365), None)
    first = analytics.items(*year)
    assert analytics_usage.closed_days._periods, "the closed days of the period are kept"
    assert analytics.items(*year) == first  # from memory, the same
    kept = next(iter(analytics_usage.closed_days._periods.values()))
    with db.write() as s:  # a change of days before the period leaves what it kept
        usage.record_change(s.connection(), first.since - timedelta(days=100), first.since)
    assert analytics.items(*year) == first
    assert next(iter(analytics_usage.closed_days._periods.values())) is kept

    # The retention (job_retention_days=200) deletes the runs created and finished over 200 days ago.
    with db.write() as s:
        s.execute(update(Job).values(created_at=Job.started_at))
    assert retention.prune().deleted > 0
    with db.read() as s:
        remaining = s.execute(select(Job.finished_at)).scalars().all()
    after = analytics.items(*year)
    in_period = [at for at in remaining if at is not None and after.since <= at < after.until]
    assert sum(item.runs for item in after.items) == len(in_period)
    assert after != first
