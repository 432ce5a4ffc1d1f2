"""Usage in blocks of 1, 4, 16 and 64 days instead of days alone: a year's analytics read at most 21 blocks per
item version instead of 366 days, and a run-time histogram holds 16 buckets a row. The daily tables are
replaced and the new ones filled from the stored jobs (the runs before 0014 without CPU time and memory, which
were not kept).

Revision ID: 0015_usage_spans
Revises: 0014_analytics
Create Date: 2026-12-05
"""

from __future__ import annotations

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
    from portal.jobs import usage

    usage.rebuild(op.get_bind())


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
