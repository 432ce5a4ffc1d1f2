"""Catalog sources: the revisions of the sources document (the newest is the current one).

Revision ID: 0018_sources_revisions
Revises: 0017_usage_changes
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portal.db.base import UTCDateTime

revision = "0018_sources_revisions"
down_revision = "0017_usage_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sources_revisions",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sources_revisions"),
    )


def downgrade() -> None:
    op.drop_table("sources_revisions")
