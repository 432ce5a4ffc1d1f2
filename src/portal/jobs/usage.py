"""Usage per item version, kept with the counters in the transaction of every run's end: finished runs and their
outcomes, durations (also as a log histogram, so that percentiles of any period read a few rows), CPU time and
peak memory. Each run counts in one block of every span in `SPANS` (days, aligned on 1970-01-01): a period of
a year reads at most 21 blocks per item version (`blocks`) instead of 366 days. The analytics read these; a
recount (`rebuild`) and the retention (`removed`) keep them equal to what the jobs say."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Subquery, Table, and_, delete, event, func, insert, select, union_all
from sqlalchemy.orm import Session

from portal.db.base import utcnow
from portal.jobs import counters, kinds
from portal.jobs.models import BUCKETS_PER_ROW, Job, JobUsage, JobUsageBucket, UsageChange

usage_t: Table = JobUsage.__table__  # type: ignore[assignment]
buckets_t: Table = JobUsageBucket.__table__  # type: ignore[assignment]
SPANS = (1, 4, 16, 64)  # each span four of the one before: a year is at most 21 blocks, a run writes 4 of each
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
COUNTS = tuple(f"n{i}" for i in range(BUCKETS_PER_ROW))  # a bucket row's counts
RATIO = 1.2  # each bucket 20 % wider than the one before: a percentile is known within 10 %
_SUMS = ("runs", "succeeded", "failed", "cancelled", "timed", "duration_ms_sum", "cpu_ms_sum")
_KEY = "portal.job_usage_deltas"
# A block that ended this long ago is closed: a run ends in the blocks of its own day, so only the retention or
# a recount changes a closed block (each records a change), as long as the nodes' clocks agree within this.
CLOSED_AFTER = timedelta(hours=6)
KEPT_CHANGES = 1000
ALL_DAYS = (EPOCH, datetime(9999, 1, 1, tzinfo=UTC))
Cell = tuple[int, datetime, str, str]  # (span, first day, item, version)


def day_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def block_of(day: datetime, span: int) -> datetime:
    """The first day of the block of `span` days that holds `day`."""
    return day - ((day - EPOCH).days % span) * DAY


def blocks(first: datetime, last: datetime) -> list[tuple[int, datetime, datetime]]:
    """The days `[first, last)` (midnights) as the fewest whole blocks: (span, first block's day, end) ranges,
    coarse blocks in the middle and finer ones towards the edges."""
    ranges: list[tuple[int, datetime, datetime]] = []
    day = first
    while day < last:
        span = next(s for s in reversed(SPANS) if block_of(day, s) == day and day + s * DAY <= last)
        if ranges and ranges[-1][0] == span and ranges[-1][2] == day:
            ranges[-1] = (span, ranges[-1][1], day + span * DAY)
        else:
            ranges.append((span, day, day + span * DAY))
        day += span * DAY
    return ranges


def closed_before(now: datetime) -> datetime:
    """The first day of the blocks that may still change: a block ending on or before it is closed."""
    return day_of(now - CLOSED_AFTER)


def record_change(conn: Connection, first_day: datetime, end_day: datetime) -> None:
    """The usage of closed blocks within `[first_day, end_day)` changed (the retention removed runs from them, a
    recount rewrote them: `ALL_DAYS`); the oldest changes beyond `KEPT_CHANGES` go."""
    newest = conn.execute(
        insert(UsageChange).values(first_day=first_day, end_day=end_day).returning(UsageChange.id)
    ).scalar_one()
    conn.execute(delete(UsageChange).where(UsageChange.id <= newest - KEPT_CHANGES))


def newest_change(conn: Connection) -> int:
    """The id of the newest change (0 when there is none)."""
    return int(conn.scalar(select(func.max(UsageChange.id))) or 0)


def changed_since(conn: Connection, seen: int, first_day: datetime, end_day: datetime) -> bool:
    """Whether a change after `seen` touched a day of `[first_day, end_day)` (or `seen` is older than the changes
    kept, which can no longer tell)."""
    oldest = conn.scalar(select(func.min(UsageChange.id)))
    if oldest is not None and seen < oldest - 1:
        return True
    touched = select(UsageChange.id).where(
        UsageChange.id > seen, UsageChange.first_day < end_day, UsageChange.end_day > first_day
    )
    return conn.execute(touched.limit(1)).first() is not None


def within(table: Any, first: datetime, last: datetime, columns: Sequence[Any], *where: Any) -> Subquery:
    """The `columns` of the usage or the buckets table's rows that `where` picks in the blocks of `blocks(first,
    last)` (a period of a day or more), for the caller to group. One search per block joined by UNION ALL: with
    the blocks as an OR, SQLite keeps every key it reads to skip duplicates there cannot be, which takes as long
    as reading them."""
    parts = [
        select(*columns).where(table.span == span, table.day >= start, table.day < end, *where)
        for span, start, end in blocks(first, last)
    ]
    return (parts[0] if len(parts) == 1 else union_all(*parts)).subquery()


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
    cells: dict[Cell, dict[str, int]] = field(default_factory=dict)
    buckets: Counter[tuple[int, datetime, str, str, int]] = field(default_factory=Counter)


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


def bucket_rows(buckets: Counter[tuple[int, datetime, str, str, int]]) -> list[dict[str, Any]]:
    """Bucket counts per (span, day, item, version, bucket) as the rows of the buckets table, in key order."""
    rows: dict[tuple[int, datetime, str, str, int], dict[str, Any]] = {}
    for (span, day, item_id, version, bucket), n in buckets.items():
        if not n:
            continue
        part, index = divmod(bucket, BUCKETS_PER_ROW)
        key = (span, day, item_id, version, part)
        row = rows.get(key)
        if row is None:
            row = rows[key] = {"span": span, "day": day, "item_id": item_id, "version": version, "part": part}
            row.update(dict.fromkeys(COUNTS, 0))
        row[f"n{index}"] += n
    return [rows[key] for key in sorted(rows)]


def duration_ms(started_at: datetime, finished_at: datetime) -> int:
    """A run's duration as the counters and the analytics count it."""
    return max(0, int((finished_at - started_at).total_seconds() * 1000))


def _add(s: Session, row: Any, sign: int) -> None:
    if row.kind != kinds.TASK or row.state not in counters.FINISHED or row.finished_at is None:
        return
    values = _values(row.state, row.started_at, row.finished_at, row.cpu_ms)
    bucket = None if row.started_at is None else bucket_of(duration_ms(row.started_at, row.finished_at))
    day = day_of(row.finished_at)
    deltas = _deltas(s)
    for span in SPANS:
        cell = (span, block_of(day, span), row.item_id, row.item_version)
        current = deltas.cells.setdefault(cell, {})
        for name, value in values.items():
            current[name] = current.get(name, 0) + sign * value
        if sign > 0 and row.max_rss_kb:
            current["max_rss_kb"] = max(current.get("max_rss_kb", 0), int(row.max_rss_kb))
        if bucket is not None:
            deltas.buckets[(*cell, bucket)] += sign


def finished(s: Session, row: Any) -> None:
    """A run of an item ended (`row`: the job as stored, with its state, times, version and resource use)."""
    _add(s, row, 1)


def removed(s: Session, row: Any) -> None:
    """A stored job was deleted (the retention): its run leaves the usage as if it had never been. Call `settle`
    before the transaction commits."""
    _add(s, row, -1)


def settle(s: Session) -> None:
    """Write the changes of `removed` now and drop the cells and buckets left empty. A cell's peak memory stays
    that of every run its block had (a maximum cannot be subtracted; only the blocks that hold a retention
    cutoff can have lost some runs and kept others)."""
    cells = sorted(_deltas(s).cells)
    _apply(s)
    conn = s.connection()
    no_runs = sum((buckets_t.c[name] for name in COUNTS[1:]), buckets_t.c[COUNTS[0]]) == 0  # counts are >= 0
    for table, empty in ((usage_t, usage_t.c.runs == 0), (buckets_t, no_runs)):
        for span, day, item_id, version in cells:
            cell = and_(table.c.span == span, table.c.day == day, table.c.item_id == item_id)
            conn.execute(delete(table).where(cell, table.c.version == version, empty))


@event.listens_for(Session, "before_commit")
def _apply(session: Session) -> None:
    """Write the transaction's usage changes in one fixed order of keys (as the counters do)."""
    deltas: _Deltas | None = session.info.pop(_KEY, None)
    if deltas is None:
        return
    conn = session.connection()
    closed = closed_before(utcnow())
    touched = [(day, day + span * DAY) for span, day, _item, _version in deltas.cells if day + span * DAY <= closed]
    if touched:
        record_change(conn, min(start for start, _ in touched), max(end for _, end in touched))
    cells = []
    for (span, day, item_id, version), values in sorted(deltas.cells.items()):
        row: dict[str, Any] = {"span": span, "day": day, "item_id": item_id, "version": version, "max_rss_kb": 0}
        row.update(dict.fromkeys(_SUMS, 0))
        row.update(values)
        cells.append(row)
    keys = ("span", "day", "item_id", "version")
    for chunk in counters.chunks(cells):
        conn.execute(
            counters.upsert_statement(usage_t, keys, _SUMS, ("max_rss_kb",), len(chunk)), counters.numbered(chunk)
        )
    for chunk in counters.chunks(bucket_rows(deltas.buckets)):
        statement = counters.upsert_statement(buckets_t, (*keys, "part"), COUNTS, (), len(chunk))
        conn.execute(statement, counters.numbered(chunk))


def rebuild(conn: Connection, batch: int = 20_000) -> None:
    """Recompute the usage from every stored job: the days from the jobs, the longer blocks from the days."""
    days: dict[tuple[datetime, str, str], dict[str, int]] = {}
    day_buckets: Counter[tuple[datetime, str, str, int]] = Counter()
    query = select(
        Job.state, Job.item_id, Job.item_version, Job.started_at, Job.finished_at, Job.cpu_ms, Job.max_rss_kb
    ).where(Job.kind == kinds.TASK, Job.state.in_(counters.FINISHED), Job.finished_at.is_not(None))
    for state, item_id, version, started_at, finished_at, cpu_ms, rss in conn.execute(
        query.execution_options(yield_per=batch)
    ):
        assert finished_at is not None  # the query's condition
        key = (day_of(finished_at), item_id, version)
        row = days.setdefault(key, {"max_rss_kb": 0, **dict.fromkeys(_SUMS, 0)})
        for name, value in _values(state, started_at, finished_at, cpu_ms).items():
            row[name] += value
        row["max_rss_kb"] = max(row["max_rss_kb"], rss or 0)
        if started_at is not None:
            day_buckets[(*key, bucket_of(duration_ms(started_at, finished_at)))] += 1
    cells: dict[Cell, dict[str, int]] = {}
    buckets: Counter[tuple[int, datetime, str, str, int]] = Counter()
    for span in SPANS:
        for (day, item_id, version), values in days.items():
            cell = cells.setdefault((span, block_of(day, span), item_id, version), dict.fromkeys(values, 0))
            for name, value in values.items():
                cell[name] = max(cell[name], value) if name == "max_rss_kb" else cell[name] + value
        for (day, item_id, version, bucket), n in day_buckets.items():
            buckets[(span, block_of(day, span), item_id, version, bucket)] += n
    conn.execute(delete(usage_t))
    conn.execute(delete(buckets_t))
    rows = [{"span": s, "day": d, "item_id": i, "version": v, **values} for (s, d, i, v), values in cells.items()]
    for start in range(0, len(rows), batch):
        conn.execute(insert(usage_t), rows[start : start + batch])
    parts = bucket_rows(buckets)
    for start in range(0, len(parts), batch):
        conn.execute(insert(buckets_t), parts[start : start + batch])
