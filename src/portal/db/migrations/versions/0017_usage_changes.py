"""The changes of closed usage: each time the usage of blocks that had already ended changes (the retention
removing runs, a recount), a row with the days it touched, so that the analytics may keep what they read of
closed days, and know which of it a change made stale (admin/analytics_usage.py).

Revision ID: 0017_usage_changes
Revises: 0016_jobs_other_kinds
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portal.db.base import UTCDateTime

revision = "0017_usage_changes"
down_revision = "0016_jobs_other_kinds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("first_day", UTCDateTime(), nullable=False),
        sa.Column("end_day", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_usage_changes"),
    )


def downgrade() -> None:
    op.drop_table("usage_changes")
