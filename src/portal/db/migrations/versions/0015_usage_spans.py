"""Usage in blocks of 1, 4, 16 and 64 days instead of days alone: a year's analytics read at most 21 blocks per
item version instead of 366 days, and a run-time histogram holds 16 buckets a row. The daily tables are
replaced and the new ones filled from the stored jobs (the runs before 0014 without CPU time and memory, which
were not kept).

Revision ID: 0015_usage_spans
Revises: 0014_analytics
Create Date: 2026-12-05
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

from portal.db.base import UTCDateTime

revision = "0015_usage_spans"
down_revision = "0014_analytics"
branch_labels = None
depends_on = None

SUMS = ("runs", "succeeded", "failed", "cancelled", "timed", "duration_ms_sum", "cpu_ms_sum", "max_rss_kb")
WIDE = ("duration_ms_sum", "cpu_ms_sum", "max_rss_kb")  # the new tables' other counts are 32-bit (see JobUsage)


def _key(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.SmallInteger() if name in ("span", "part") else sa.Integer(), autoincrement=False)


def _table(name: str, keys: tuple[str, ...], counts: tuple[str, ...]) -> None:
    """A usage table keyed by `keys` (in that order) with `counts`; the new tables (keyed by span) are stored in
    key order on SQLite and count in 32 bits but for `WIDE`, the old ones count in 64 bits."""
    new = "span" in keys
    columns = {
        "day": sa.Column("day", UTCDateTime(), nullable=False),
        "item_id": sa.Column("item_id", sa.String(64), nullable=False),
        "version": sa.Column("version", sa.String(64), nullable=False),
    }
    op.create_table(
        name,
        *(
            columns.get(key, _key(key))
            for key in ("span", "day", "item_id", "version", "part", "bucket")
            if key in keys
        ),
        *(
            sa.Column(count, sa.Integer() if new and count not in WIDE else sa.BigInteger(), nullable=False)
            for count in counts
        ),
        sa.PrimaryKeyConstraint(*keys, name=f"pk_{name}"),
        **({"sqlite_with_rowid": False} if new else {}),
    )


def upgrade() -> None:
    op.drop_index("ix_job_duration_daily_item_day", table_name="job_duration_daily")
    op.drop_table("job_duration_daily")
    op.drop_index("ix_job_version_daily_item_day", table_name="job_version_daily")
    op.drop_table("job_version_daily")
    _table("job_usage", ("span", "day", "item_id", "version"), SUMS)
    op.create_index("ix_job_usage_item", "job_usage", ["item_id", "span", "day"])
    # 16 buckets a row, keyed by item first: read for chosen items only
    _table("job_usage_buckets", ("item_id", "span", "day", "version", "part"), tuple(f"n{i}" for i in range(16)))
    _recount(op.get_bind())


# The recount as it was at this revision (`jobs/usage.py` then), frozen here: a later change of the live code or
# of the tables must not change what upgrading an old database through this step does.
_SPANS = (1, 4, 16, 64)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RATIO = 1.2
_PER_ROW = 16
_ENDED = ("SUCCEEDED", "FAILED", "CANCELLED")


def _day(at: datetime) -> datetime:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def _bucket(ms: int) -> int:
    return 0 if ms <= 1 else math.ceil(math.log(ms) / math.log(_RATIO) - 1e-9)


def _recount(conn: sa.Connection) -> None:
    """Fill the usage blocks from every finished run of an item stored in the jobs."""
    jobs = sa.table(
        "jobs",
        *(sa.column(name) for name in ("state", "item_id", "item_version", "cpu_ms", "max_rss_kb", "kind")),
        sa.column("started_at", UTCDateTime()),
        sa.column("finished_at", UTCDateTime()),
    )
    runs = sa.select(
        jobs.c.state,
        jobs.c.item_id,
        jobs.c.item_version,
        jobs.c.started_at,
        jobs.c.finished_at,
        jobs.c.cpu_ms,
        jobs.c.max_rss_kb,
    ).where(jobs.c.kind == "catalog_execution", jobs.c.state.in_(_ENDED), jobs.c.finished_at.is_not(None))
    cells: dict[tuple[int, datetime, str, str], dict[str, int]] = {}
    buckets: Counter[tuple[int, datetime, str, str, int]] = Counter()
    for state, item_id, version, started_at, finished_at, cpu_ms, rss in conn.execute(runs):
        day = _day(finished_at)
        values = {"runs": 1, state.lower(): 1, "cpu_ms_sum": cpu_ms or 0}
        if started_at is not None:
            took = max(0, int((finished_at - started_at).total_seconds() * 1000))
            values.update(timed=1, duration_ms_sum=took)
        for span in _SPANS:
            block = day - ((day - _EPOCH).days % span) * timedelta(days=1)
            cell = cells.setdefault((span, block, item_id, version), dict.fromkeys(SUMS, 0))
            for name, value in values.items():
                cell[name] += value
            cell["max_rss_kb"] = max(cell["max_rss_kb"], rss or 0)
            if started_at is not None:
                buckets[(span, block, item_id, version, _bucket(values["duration_ms_sum"]))] += 1
    usage = sa.table(
        "job_usage", *(sa.column(n) for n in ("span", "item_id", "version", *SUMS)), sa.column("day", UTCDateTime())
    )
    counts = tuple(f"n{i}" for i in range(_PER_ROW))
    usage_buckets = sa.table(
        "job_usage_buckets",
        *(sa.column(n) for n in ("span", "item_id", "version", "part", *counts)),
        sa.column("day", UTCDateTime()),
    )
    rows = [{"span": s, "day": d, "item_id": i, "version": v, **c} for (s, d, i, v), c in cells.items()]
    parts: dict[tuple[int, datetime, str, str, int], dict[str, Any]] = {}
    for (span, day, item_id, version, bucket), n in buckets.items():
        part, index = divmod(bucket, _PER_ROW)
        row = parts.setdefault(
            (span, day, item_id, version, part),
            {
                "span": span,
                "day": day,
                "item_id": item_id,
                "version": version,
                "part": part,
                **dict.fromkeys(counts, 0),
            },
        )
        row[f"n{index}"] += n
    for start in range(0, len(rows), 20_000):
        conn.execute(sa.insert(usage), rows[start : start + 20_000])
    bucket_rows = [parts[key] for key in sorted(parts)]
    for start in range(0, len(bucket_rows), 20_000):
        conn.execute(sa.insert(usage_buckets), bucket_rows[start : start + 20_000])


def downgrade() -> None:
    _table("job_version_daily", ("day", "item_id", "version"), SUMS)
    op.create_index("ix_job_version_daily_item_day", "job_version_daily", ["item_id", "day"])
    _table("job_duration_daily", ("day", "item_id", "version", "bucket"), ("n",))
    op.create_index("ix_job_duration_daily_item_day", "job_duration_daily", ["item_id", "day"])
    # The days are the blocks of span 1.
    columns = ", ".join(SUMS)
    op.execute(
        f"INSERT INTO job_version_daily (day, item_id, version, {columns}) "
        f"SELECT day, item_id, version, {columns} FROM job_usage WHERE span = 1"
    )
    for i in range(16):  # each of a row's 16 buckets back to a row of its own
        op.execute(
            "INSERT INTO job_duration_daily (day, item_id, version, bucket, n) "
            f"SELECT day, item_id, version, part * 16 + {i}, n{i} FROM job_usage_buckets WHERE span = 1 AND n{i} > 0"
        )
    op.drop_table("job_usage_buckets")
    op.drop_index("ix_job_usage_item", table_name="job_usage")
    op.drop_table("job_usage")
