"""Daily usage per item version, kept with the counters in the transaction of every run's end: finished runs and
their outcomes, durations (also as a log histogram, so that percentiles of any period read a few rows), CPU time
and peak memory. The analytics read these; a recount (`rebuild`) and the retention (`removed`) keep them equal to
what the jobs say."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, event, insert, select
from sqlalchemy.orm import Session

from portal.jobs import counters, kinds
from portal.jobs.models import Job, JobDurationDaily, JobVersionDaily

daily_t: Table = JobVersionDaily.__table__  # type: ignore[assignment]
buckets_t: Table = JobDurationDaily.__table__  # type: ignore[assignment]
RATIO = 1.2  # each bucket 20 % wider than the one before: a percentile is known within 10 %
_SUMS = ("runs", "succeeded", "failed", "cancelled", "timed", "duration_ms_sum", "cpu_ms_sum")
_KEY = "portal.job_usage_deltas"
Cell = tuple[datetime, str, str]  # (day, item, version)


def day_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def bucket_of(ms: int) -> int:
    """The histogram bucket of a duration: 0 for up to 1 ms, then b for (RATIO^(b-1), RATIO^b]."""
    return 0 if ms <= 1 else math.ceil(math.log(ms) / math.log(RATIO) - 1e-9)


def bucket_upper(bucket: int) -> int:
    """The longest duration (ms) a bucket holds."""
    return 1 if bucket <= 0 else math.floor(RATIO**bucket + 1e-9)


def bucket_middle(bucket: int) -> int:
    """The duration (ms) a bucket stands for: its geometric middle, within 10 % of anything in it."""
    return 1 if bucket <= 0 else max(1, round(RATIO ** (bucket - 0.5)))


@dataclass
class _Deltas:
    daily: dict[Cell, dict[str, int]] = field(default_factory=dict)
    buckets: Counter[tuple[datetime, str, str, int]] = field(default_factory=Counter)


def _deltas(s: Session) -> _Deltas:
    deltas: _Deltas = s.info.setdefault(_KEY, _Deltas())
    return deltas


def _values(state: str, started_at: datetime | None, finished_at: datetime, cpu_ms: int | None) -> dict[str, int]:
    values = {"runs": 1, state.lower(): 1}
    if started_at is not None:
        values.update(timed=1, duration_ms_sum=duration_ms(started_at, finished_at))
    if cpu_ms is not None:
        values["cpu_ms_sum"] = cpu_ms
    return values


def duration_ms(started_at: datetime, finished_at: datetime) -> int:
    """A run's duration as the counters and the analytics count it."""
    return max(0, int((finished_at - started_at).total_seconds() * 1000))


def _add(s: Session, row: Any, sign: int) -> None:
    if row.kind != kinds.TASK or row.state not in counters.FINISHED or row.finished_at is None:
        return
    cell = (day_of(row.finished_at), row.item_id, row.item_version)
    current = _deltas(s).daily.setdefault(cell, {})
    for name, value in _values(row.state, row.started_at, row.finished_at, row.cpu_ms).items():
        current[name] = current.get(name, 0) + sign * value
    if sign > 0 and row.max_rss_kb:
        current["max_rss_kb"] = max(current.get("max_rss_kb", 0), int(row.max_rss_kb))
    if row.started_at is not None:
        _deltas(s).buckets[(*cell, bucket_of(duration_ms(row.started_at, row.finished_at)))] += sign


def finished(s: Session, row: Any) -> None:
    """A run of an item ended (`row`: the job as stored, with its state, times, version and resource use)."""
    _add(s, row, 1)


def removed(s: Session, row: Any) -> None:
    """A stored job was deleted (the retention): its run leaves the usage as if it had never been. Call `settle`
    before the transaction commits."""
    _add(s, row, -1)


def settle(s: Session) -> None:
    """Write the changes of `removed` now and drop the cells and buckets left empty. A cell's peak memory stays
    that of every run its day had (a maximum cannot be subtracted; retention cutoffs are whole hours, so only
    the day of a cutoff can have lost some runs and kept others)."""
    cells = sorted(_deltas(s).daily)
    _apply(s)
    conn = s.connection()
    for day, item_id, version in cells:
        where = and_(daily_t.c.day == day, daily_t.c.item_id == item_id, daily_t.c.version == version)
        conn.execute(delete(daily_t).where(where, daily_t.c.runs == 0))
        bucket_where = and_(buckets_t.c.day == day, buckets_t.c.item_id == item_id, buckets_t.c.version == version)
        conn.execute(delete(buckets_t).where(bucket_where, buckets_t.c.n == 0))


@event.listens_for(Session, "before_commit")
def _apply(session: Session) -> None:
    """Write the transaction's usage changes in one fixed order of keys (as the counters do)."""
    deltas: _Deltas | None = session.info.pop(_KEY, None)
    if deltas is None:
        return
    conn = session.connection()
    daily = []
    for (day, item_id, version), values in sorted(deltas.daily.items()):
        row: dict[str, Any] = {"day": day, "item_id": item_id, "version": version, "max_rss_kb": 0}
        row.update(dict.fromkeys(_SUMS, 0))
        row.update(values)
        daily.append(row)
    keys = ("day", "item_id", "version")
    for chunk in counters.chunks(daily):
        conn.execute(
            counters.upsert_statement(daily_t, keys, _SUMS, ("max_rss_kb",), len(chunk)), counters.numbered(chunk)
        )
    buckets = [
        {"day": day, "item_id": item_id, "version": version, "bucket": bucket, "n": n}
        for (day, item_id, version, bucket), n in sorted(deltas.buckets.items())
        if n
    ]
    for chunk in counters.chunks(buckets):
        statement = counters.upsert_statement(buckets_t, (*keys, "bucket"), ("n",), (), len(chunk))
        conn.execute(statement, counters.numbered(chunk))


def rebuild(conn: Connection, batch: int = 20_000) -> None:
    """Recompute the daily usage from every stored job."""
    daily: dict[Cell, dict[str, int]] = {}
    buckets: Counter[tuple[datetime, str, str, int]] = Counter()
    query = select(
        Job.state, Job.item_id, Job.item_version, Job.started_at, Job.finished_at, Job.cpu_ms, Job.max_rss_kb
    ).where(Job.kind == kinds.TASK, Job.state.in_(counters.FINISHED), Job.finished_at.is_not(None))
    for state, item_id, version, started_at, finished_at, cpu_ms, rss in conn.execute(
        query.execution_options(yield_per=batch)
    ):
        assert finished_at is not None  # the query's condition
        cell = (day_of(finished_at), item_id, version)
        row = daily.setdefault(cell, {"max_rss_kb": 0, **dict.fromkeys(_SUMS, 0)})
        for name, value in _values(state, started_at, finished_at, cpu_ms).items():
            row[name] += value
        row["max_rss_kb"] = max(row["max_rss_kb"], rss or 0)
        if started_at is not None:
            buckets[(*cell, bucket_of(duration_ms(started_at, finished_at)))] += 1
    conn.execute(delete(daily_t))
    conn.execute(delete(buckets_t))
    rows = [{"day": d, "item_id": i, "version": v, **values} for (d, i, v), values in daily.items()]
    for start in range(0, len(rows), batch):
        conn.execute(insert(daily_t), rows[start : start + batch])
    bucket_rows = [{"day": d, "item_id": i, "version": v, "bucket": b, "n": n} for (d, i, v, b), n in buckets.items()]
    for start in range(0, len(bucket_rows), batch):
        conn.execute(insert(buckets_t), bucket_rows[start : start + batch])
