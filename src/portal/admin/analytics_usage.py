"""What the analytics read of the usage rollups for a period: the runs of every item, and for chosen items the sums
and run-time histogram of each version. What closed days hold is kept in memory, so a period re-read (a
dashboard, a year's report) reads only its open days again.

A period `[first, last)` is read as its closed part `[first, cut)`, blocks that ended `usage.CLOSED_AFTER` ago,
which change only by the retention or a recount (each records the days it changed: `usage_changes`), and its
open part `[cut, last)`, read every time. An entry holds until a change touches its days.
"""

from __future__ import annotations

import operator
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, cast, func, select

from portal.db.base import utcnow
from portal.jobs import usage
from portal.jobs.models import BUCKETS_PER_ROW, JobUsage, JobUsageBucket

SUMMED = ("runs", "succeeded", "failed", "cancelled", "timed", "duration_ms_sum", "cpu_ms_sum")
MEASURES = (*SUMMED, "max_rss_kb")
Histogram = list[int]  # the runs in each bucket, by bucket
Sums = dict[str, int]
_BATCH = 100
_KEPT_PERIODS = 8


@dataclass
class PeriodUsage:
    """Runs per item (every item), and per version of the items in `loaded` their sums and histograms."""

    runs: dict[str, int] = field(default_factory=dict)
    versions: dict[str, dict[str, Sums]] = field(default_factory=dict)
    histograms: dict[tuple[str, str], Histogram] = field(default_factory=dict)
    loaded: set[str] = field(default_factory=set)


def add_counts(histogram: Histogram, first: int, counts: Iterable[int]) -> None:
    """Add `counts` to the buckets from `first` on."""
    counts = list(counts)
    end = first + len(counts)
    if len(histogram) < end:
        histogram.extend([0] * (end - len(histogram)))
    histogram[first:end] = map(operator.add, histogram[first:end], counts)


def add_sums(into: Sums, sums: Sums) -> None:
    for name in SUMMED:
        into[name] = into.get(name, 0) + sums.get(name, 0)
    into["max_rss_kb"] = max(into.get("max_rss_kb", 0), sums.get("max_rss_kb", 0))


def _total(column: Any) -> Any:
    """A sum as a BigInteger (PostgreSQL's sum of bigints is a numeric, read as a Decimal)."""
    return cast(func.sum(column), BigInteger)


def _read_runs(conn: Connection, first: datetime, last: datetime, item_id: str | None) -> dict[str, int]:
    d = JobUsage
    where = [d.item_id == item_id] if item_id else []
    ran = usage.within(d, first, last, [d.item_id, d.runs], *where)
    return {item: int(n) for item, n in conn.execute(select(ran.c.item_id, _total(ran.c.runs)).group_by(ran.c.item_id))}


def _read_versions(conn: Connection, first: datetime, last: datetime, items: list[str], into: PeriodUsage) -> None:
    """The sums and histograms of every version of `items` in `[first, last)`, added to `into`."""
    d, h = JobUsage, JobUsageBucket
    for start in range(0, len(items), _BATCH):
        batch = items[start : start + _BATCH]
        cells = usage.within(
            d, first, last, [d.item_id, d.version, *(getattr(d, n) for n in MEASURES)], d.item_id.in_(batch)
        )
        sums = select(
            cells.c.item_id, cells.c.version, *(_total(cells.c[n]) for n in SUMMED), func.max(cells.c.max_rss_kb)
        ).group_by(cells.c.item_id, cells.c.version)
        for item, version, *values in conn.execute(sums):
            found = {name: value or 0 for name, value in zip(MEASURES, values, strict=True)}
            add_sums(into.versions.setdefault(item, {}).setdefault(version, {}), found)
        counted = [h.item_id, h.version, h.part, *(getattr(h, n) for n in usage.COUNTS)]
        parts = usage.within(h, first, last, counted, h.item_id.in_(batch))
        buckets = select(
            parts.c.item_id, parts.c.version, parts.c.part, *(_total(parts.c[n]) for n in usage.COUNTS)
        ).group_by(parts.c.item_id, parts.c.version, parts.c.part)
        for item, version, part, *counts in conn.execute(buckets):
            add_counts(into.histograms.setdefault((item, version), []), part * BUCKETS_PER_ROW, counts)
    into.loaded.update(items)


@dataclass
class _Closed:
    """A period's closed part, and the newest usage change it has seen."""

    usage: PeriodUsage
    seen: int


class _ClosedDays:
    """The closed part of recent periods, by (first day, cut); the least recently read dropped beyond a few. An
    entry holds until a usage change touches its days (`usage.changed_since`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._periods: OrderedDict[tuple[datetime, datetime], _Closed] = OrderedDict()

    def runs(self, conn: Connection, first: datetime, cut: datetime) -> PeriodUsage:
        """The closed part of `[first, cut)`, its runs per item read (again) when no entry holds."""
        key = (first, cut)
        newest = usage.newest_change(conn)
        with self._lock:
            found = self._periods.get(key)
            if found is not None:
                self._periods.move_to_end(key)
        if found is not None and (found.seen == newest or not usage.changed_since(conn, found.seen, first, cut)):
            found.seen = max(found.seen, newest)
            return found.usage
        made = _Closed(PeriodUsage(runs=_read_runs(conn, first, cut, None)), newest)
        with self._lock:
            self._periods[key] = made
            self._periods.move_to_end(key)
            while len(self._periods) > _KEPT_PERIODS:
                self._periods.popitem(last=False)
        return made.usage

    def load(self, conn: Connection, first: datetime, cut: datetime, closed: PeriodUsage, items: list[str]) -> None:
        """The versions and histograms of `items` in the closed part, read for those not read yet."""
        missing = [item for item in items if item not in closed.loaded]
        if not missing:
            return
        read = PeriodUsage()
        _read_versions(conn, first, cut, missing, read)
        with self._lock:  # merged whole: a reader sees an item's versions complete or not at all
            for item in missing:
                if item in closed.loaded:
                    continue
                closed.versions[item] = read.versions.get(item, {})
                for (of, version), histogram in read.histograms.items():
                    if of == item:
                        closed.histograms[(item, version)] = histogram
                closed.loaded.add(item)

    def clear(self) -> None:
        with self._lock:
            self._periods.clear()


closed_days = _ClosedDays()


def read_period(
    conn: Connection, first: datetime, last: datetime, item_id: str | None, limit: int
) -> tuple[PeriodUsage, list[str]]:
    """The usage of `[first, last)`: runs per item (of `item_id` only, when given), and the versions of the
    `limit` items with the most runs, which it returns in that order. One item's figures are read whole (a few
    rows); those of every item take the closed days from `closed_days`."""
    cut = first if item_id else min(max(first, usage.closed_before(utcnow())), last)
    period = PeriodUsage()
    closed: PeriodUsage | None = None
    if cut > first:
        closed = closed_days.runs(conn, first, cut)
        period.runs = dict(closed.runs)
    if cut < last:
        for item, n in _read_runs(conn, cut, last, item_id).items():
            period.runs[item] = period.runs.get(item, 0) + n
    top = sorted(period.runs, key=lambda i: (-period.runs[i], i))[:limit]
    if closed is not None:
        closed_days.load(conn, first, cut, closed, top)
        for item in top:
            for version, sums in closed.versions.get(item, {}).items():
                add_sums(period.versions.setdefault(item, {}).setdefault(version, {}), sums)
                add_counts(
                    period.histograms.setdefault((item, version), []), 0, closed.histograms.get((item, version), [])
                )
    if cut < last:
        _read_versions(conn, cut, last, top, period)
    period.loaded.update(top)
    return period, top
