"""Index jobs by state and item together (the jobs list filters by both).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_state_item_id_id", "jobs", ["state", "item_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_state_item_id_id", table_name="jobs")
