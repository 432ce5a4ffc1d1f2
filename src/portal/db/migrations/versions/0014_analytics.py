"""Analytics: what each run used (CPU time, peak memory) and its failure's type and grouping key on the job; daily
usage per item version with a duration histogram; failed import attempts.

Revision ID: 0014_analytics
Revises: 0013_storage
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portal.db.base import UTCDateTime

revision = "0014_analytics"
down_revision = "0013_storage"
branch_labels = None
depends_on = None

FAILED = sa.text("state = 'FAILED'")


def upgrade() -> None:
    op.add_column("jobs", sa.Column("cpu_ms", sa.BigInteger(), nullable=True))
    op.add_column("jobs", sa.Column("max_rss_kb", sa.BigInteger(), nullable=True))
    op.add_column("jobs", sa.Column("error_type", sa.String(100), nullable=True))
    op.add_column("jobs", sa.Column("error_key", sa.String(200), nullable=True))
    op.create_index(
        "ix_jobs_failures",
        "jobs",
        ["finished_at", "kind", "item_id", "error_type", "error_key", "id"],
        sqlite_where=FAILED,
        postgresql_where=FAILED,
    )
    op.create_table(
        "job_version_daily",
        sa.Column("day", UTCDateTime(), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        *(
            sa.Column(name, sa.BigInteger(), nullable=False)
            for name in (
                "runs",
                "succeeded",
                "failed",
                "cancelled",
                "timed",
                "duration_ms_sum",
                "cpu_ms_sum",
                "max_rss_kb",
            )
        ),
        sa.PrimaryKeyConstraint("day", "item_id", "version", name="pk_job_version_daily"),
    )
    op.create_index("ix_job_version_daily_item_day", "job_version_daily", ["item_id", "day"])
    op.create_table(
        "job_duration_daily",
        sa.Column("day", UTCDateTime(), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("bucket", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "item_id", "version", "bucket", name="pk_job_duration_daily"),
    )
    op.create_index("ix_job_duration_daily_item_day", "job_duration_daily", ["item_id", "day"])
    op.create_table(
        "catalog_import_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=True),
        sa.Column("version", sa.String(64), nullable=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_import_failures"),
    )
    op.create_index("ix_catalog_import_failures_at", "catalog_import_failures", ["at"])
    from portal.jobs.writer import error_columns

    conn = op.get_bind()
    # The failures stored so far get their type and grouping key. (The daily usage was filled from the runs here
    # too; 0015 replaces these tables with blocks of several spans and fills those.)
    jobs = sa.table(
        "jobs",
        sa.column("id"),
        sa.column("state"),
        sa.column("error", sa.JSON()),
        sa.column("error_type"),
        sa.column("error_key"),
    )
    failed = conn.execute(sa.select(jobs.c.id, jobs.c.error).where(jobs.c.state == "FAILED")).all()
    for start in range(0, len(failed), 5000):
        rows = [{"b_id": i, **error_columns(e if isinstance(e, dict) else {})} for i, e in failed[start : start + 5000]]
        conn.execute(
            jobs.update()
            .where(jobs.c.id == sa.bindparam("b_id"))
            .values(error_type=sa.bindparam("error_type"), error_key=sa.bindparam("error_key")),
            rows,
        )


def downgrade() -> None:
    op.drop_index("ix_catalog_import_failures_at", table_name="catalog_import_failures")
    op.drop_table("catalog_import_failures")
    op.drop_index("ix_job_duration_daily_item_day", table_name="job_duration_daily")
    op.drop_table("job_duration_daily")
    op.drop_index("ix_job_version_daily_item_day", table_name="job_version_daily")
    op.drop_table("job_version_daily")
    op.drop_index("ix_jobs_failures", table_name="jobs")
    op.drop_column("jobs", "error_key")
    op.drop_column("jobs", "error_type")
    op.drop_column("jobs", "max_rss_kb")
    op.drop_column("jobs", "cpu_ms")
