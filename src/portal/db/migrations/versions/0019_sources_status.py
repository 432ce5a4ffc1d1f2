"""Catalog sources: how the last refresh of each source went (kept across restarts).

Revision ID: 0019_sources_status
Revises: 0018_sources_revisions
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portal.db.base import UTCDateTime

revision = "0019_sources_status"
down_revision = "0018_sources_revisions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sources_status",
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("last_refresh_time", UTCDateTime(), nullable=True),
        sa.Column("last_refresh_status", sa.String(length=16), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("versions_imported", sa.Integer(), nullable=False),
        sa.Column("versions_unchanged", sa.Integer(), nullable=False),
        sa.Column("versions_failed", sa.Integer(), nullable=False),
        sa.Column("versions_missing", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", UTCDateTime(), nullable=True),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source_id", name="pk_sources_status"),
    )


def downgrade() -> None:
    op.drop_table("sources_status")
