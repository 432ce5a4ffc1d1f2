"""Catalog analytics: how each item and version is used over a period (runs, outcomes, run time percentiles, CPU
time, peak memory), version adoption by day, the most and least used items and those nobody runs, the failures
grouped by type and message, and the failed import attempts. Read from the usage rollups (`jobs/usage.py`:
blocks of 1 to 64 days, the fewest that make up the period), whole UTC days from the day of `since` to the day of
`until`; the failures from the jobs (a partial index on failed jobs by finish time)."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

from sqlalchemy import ColumnElement, Connection, TextClause, func, literal, select, text

from portal.admin import analytics_usage
from portal.admin.analytics_schemas import (
    Adoption,
    AdoptionDay,
    ErrorGroup,
    ErrorsAnalytics,
    ItemRuns,
    ItemsAnalytics,
    ItemUsage,
    UsageRanking,
    VersionUsage,
)
from portal.catalog.models import CatalogItem
from portal.catalog.service import version_sort_key
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import ValidationFailed
from portal.jobs import kinds, usage
from portal.jobs.models import Job, JobUsage

DEFAULT_DAYS = 30
MAX_DAYS = 366
DAY = timedelta(days=1)


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


@contextmanager
def _reading() -> Iterator[Connection]:
    """A read transaction for the aggregations: on PostgreSQL with no parallel workers, whose start takes longer
    than grouping the few thousand rows these read (a week's items took 45 ms with them, 25 ms without)."""
    with db.read() as s:
        conn = s.connection()
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
        yield conn


def period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """The whole UTC days a period covers, `[day of since, day of until (or the next one, when until is not a
    midnight))`: the window every figure counts and the answers name. Default: the last 30 days. 422 for a time
    out of 2000-9000, a reversed period or one longer than 366 days."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and not EARLIEST <= _utc(value) < LATEST:
            raise ValidationFailed(f"{name} is out of range", details=[{"field": name, "message": "not 2000-9000"}])
    end = _utc(until) if until else utcnow()
    start = _utc(since) if since else end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise ValidationFailed(
            "the period ends before it begins", details=[{"field": "since", "message": "after until"}]
        )
    if end - start > timedelta(days=MAX_DAYS):
        raise ValidationFailed(
            f"a period is at most {MAX_DAYS} days", details=[{"field": "since", "message": f"over {MAX_DAYS} days"}]
        )
    last = usage.day_of(end)
    return usage.day_of(start), last if last == end else last + DAY


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


Histogram = analytics_usage.Histogram


def percentiles(histogram: Histogram, *shares: float) -> list[int | None]:
    """The run times under which each share of the runs ended (nearest rank), each as the middle of its bucket."""
    cumulative = list(accumulate(histogram))
    total = cumulative[-1] if cumulative else 0
    if not total:
        return [None] * len(shares)
    ranks = [max(1, -(-int(share * total * 1000) // 1000)) for share in shares]  # ceil without float drift
    return [usage.bucket_middle(bisect_left(cumulative, rank)) for rank in ranks]


def _figures(sums: dict[str, int], histogram: Histogram) -> dict[str, Any]:
    decided = sums["succeeded"] + sums["failed"]
    p50, p95 = percentiles(histogram, 0.5, 0.95)
    return {
        "runs": sums["runs"],
        "succeeded": sums["succeeded"],
        "failed": sums["failed"],
        "cancelled": sums["cancelled"],
        "success_rate": round(sums["succeeded"] / decided, 4) if decided else None,
        "p50_ms": p50,
        "p95_ms": p95,
        "avg_ms": sums["duration_ms_sum"] // sums["timed"] if sums["timed"] else None,
        "cpu_ms": sums["cpu_ms_sum"],
        "max_rss_kb": sums["max_rss_kb"],
    }


def items(
    since: datetime | None, until: datetime | None, item_id: str | None = None, limit: int = 100
) -> ItemsAnalytics:
    """Per item and per version: runs, outcomes, p50/p95 and average run time, CPU time, peak memory; the `limit`
    items with the most runs (only their figures are summed, from their versions')."""
    first, last = period(since, until)
    with _reading() as conn:
        found, top = analytics_usage.read_period(conn, first, last, item_id, limit)
    # semver's comparison is slow: each version string is ranked once
    every_version = {v for item in top for v in found.versions.get(item, {})}
    rank = {version: n for n, version in enumerate(sorted(every_version, key=version_sort_key, reverse=True))}
    result = []
    for item in top:
        merged: Histogram = []
        usages = []
        total: dict[str, int] = dict.fromkeys(analytics_usage.MEASURES, 0)
        for version, sums in sorted(found.versions.get(item, {}).items(), key=lambda found: rank[found[0]]):
            histogram = found.histograms.get((item, version), [])
            analytics_usage.add_counts(merged, 0, histogram)
            analytics_usage.add_sums(total, sums)
            usages.append(VersionUsage(version=version, **_figures(sums, histogram)))
        result.append(ItemUsage(item_id=item, versions=usages, **_figures(total, merged)))
    return ItemsAnalytics(since=first, until=last, total_items=len(found.runs), items=result)


def errors(
    since: datetime | None, until: datetime | None, item_id: str | None = None, limit: int = 50
) -> ErrorsAnalytics:
    """The failed runs of the period grouped by error type and message (numbers masked), most frequent first."""
    start, end = period(since, until)  # whole days, as the other figures count
    # The state rendered as a literal: a partial index on failed jobs is usable only when the query names its
    # condition (a bound parameter hides it from SQLite's planner and from PostgreSQL's generic plans).
    failed: ColumnElement[bool] | TextClause = Job.state == literal("FAILED", literal_execute=True)
    if db.get_engine().dialect.name == "sqlite":
        # SQLite's sampled statistics (`db.refresh_statistics`) guess ~1,000 rows a state, not the tens of
        # thousands of failures of a busy year, and would walk every failure by state instead of the period's
        # by time: told that the state is no filter, its planner takes the partial index by finish time.
        failed = text("likelihood(jobs.state = 'FAILED', 0.9)")
    conditions: list[ColumnElement[bool] | TextClause] = [
        failed,
        Job.finished_at >= start,
        Job.finished_at < end,
        Job.kind == kinds.TASK,
    ]
    if item_id:
        conditions.append(Job.item_id == item_id)
    query = (
        select(
            Job.error_type,
            Job.error_key,
            Job.item_id,
            func.count(),
            func.min(Job.finished_at),
            func.max(Job.finished_at),
            func.min(Job.id),
            func.max(Job.id),
        )
        .where(*conditions)
        .group_by(Job.error_type, Job.error_key, Job.item_id)
    )
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    with _reading() as conn:
        for kind, key, item, count, first_at, last_at, first_id, last_id in conn.execute(query):
            group = groups.setdefault(
                (kind or "Error", key or ""),
                {"count": 0, "items": set(), "first": (first_at, first_id), "last": (last_at, last_id)},
            )
            group["count"] += int(count)
            group["items"].add(item)
            group["first"] = min(group["first"], (first_at, first_id))
            group["last"] = max(group["last"], (last_at, last_id))
        top = sorted(groups.items(), key=lambda g: (-g[1]["count"], g[0]))[:limit]
        latest = [g["last"][1] for _, g in top]
        examples: dict[int, Any] = {}
        if latest:
            examples = dict(conn.execute(select(Job.id, Job.error).where(Job.id.in_(latest))).all())
    out = [
        ErrorGroup(
            type=kind,
            message=key,
            example=str((examples.get(g["last"][1]) or {}).get("message", ""))[:2000],
            count=g["count"],
            items=sorted(g["items"]),
            first_at=g["first"][0],
            last_at=g["last"][0],
            sample_jobs=sorted({g["first"][1], g["last"][1]}),
        )
        for (kind, key), g in top
    ]
    failures = sum(g["count"] for g in groups.values())
    return ErrorsAnalytics(since=start, until=end, failures=failures, groups=out)


def adoption(item_id: str, since: datetime | None, until: datetime | None) -> Adoption:
    """Runs per version per day: how a new version takes over from the old."""
    first, last = period(since, until)
    d = JobUsage
    query = (
        select(d.day, d.version, func.sum(d.runs))
        .where(d.item_id == item_id, d.span == 1, d.day >= first, d.day < last)
        .group_by(d.day, d.version)
    )
    per_day: dict[datetime, dict[str, int]] = defaultdict(dict)
    with db.read() as s:
        for day, version, runs in s.connection().execute(query):
            per_day[usage.day_of(day)][version] = int(runs)
    versions = sorted({v for runs in per_day.values() for v in runs}, key=version_sort_key, reverse=True)
    days = []
    day = first
    while day < last:
        days.append(AdoptionDay(day=day, runs=per_day.get(day, {})))
        day += DAY
    return Adoption(item_id=item_id, since=first, until=last, versions=versions, days=days)


def ranking(since: datetime | None, until: datetime | None, unused_days: int = 30, limit: int = 10) -> UsageRanking:
    """The most and least used runnable items of the period, and those nobody ran in the last `unused_days`."""
    first, last = period(since, until)
    recent = usage.day_of(utcnow()) - timedelta(days=unused_days - 1)
    d = JobUsage
    with _reading() as conn:
        # Each item's newest day is one seek in the usage index by item (grouping the days would read them all).
        newest = (
            select(func.max(d.day)).where(d.item_id == CatalogItem.id, d.span == 1).correlate(CatalogItem)
        ).scalar_subquery()
        offered = select(CatalogItem.id, CatalogItem.name, newest).where(CatalogItem.latest_version.is_not(None))
        catalog: dict[str, str] = {}
        last_runs: dict[str, datetime] = {}
        for item_id, name, day in conn.execute(offered):
            catalog[item_id] = name
            if day is not None:
                last_runs[item_id] = usage.day_of(day)
        ran = usage.within(d, first, last, [d.item_id, d.runs])
        in_period = select(ran.c.item_id, func.sum(ran.c.runs)).group_by(ran.c.item_id)
        runs = {item_id: int(n) for item_id, n in conn.execute(in_period)}

    def entry(item_id: str) -> ItemRuns:
        return ItemRuns(
            item_id=item_id,
            name=catalog.get(item_id, item_id),
            runs=int(runs.get(item_id, 0)),
            last_run_at=last_runs.get(item_id),
        )

    used = sorted((i for i in catalog if runs.get(i)), key=lambda i: (-int(runs[i]), i))
    unused = sorted(
        (i for i in catalog if i not in last_runs or last_runs[i] < recent),
        key=lambda i: (last_runs.get(i) is not None, i),
    )
    return UsageRanking(
        since=first,
        until=last,
        most_used=[entry(i) for i in used[:limit]],
        least_used=[entry(i) for i in reversed(used[-limit:])] if used else [],
        unused=[entry(i) for i in unused],
        unused_days=unused_days,
    )
