"""The jobs list at a million jobs: per-owner job counters for its totals, indexes for its sort columns.

Revision ID: 0007_jobs_list_counts
Revises: 0006_bundle_store
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_jobs_list_counts"
down_revision = "0006_bundle_store"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_owner_counts",
        sa.Column("created_by", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("created_by", "state", "item_id", name="pk_job_owner_counts"),
    )
    # Every column the jobs list sorts by is indexed with id, so a sorted page is a walk along an index.
    op.create_index("ix_jobs_updated_at_id", "jobs", ["updated_at", "id"])
    op.create_index("ix_jobs_progress_id", "jobs", ["progress", "id"])
    # The counters start from the jobs already stored (all of them, so job_counts is rebuilt alongside).
    from portal.jobs.counters import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_jobs_progress_id", table_name="jobs")
    op.drop_index("ix_jobs_updated_at_id", table_name="jobs")
    op.drop_table("job_owner_counts")
