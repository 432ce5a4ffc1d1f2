"""Network access of catalog items (what the latest version declares, what an admin allowed), and the job isolation
each worker reports.

Revision ID: 0009_item_network
Revises: 0008_schedules
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portal.db.base import UTCDateTime

revision = "0009_item_network"
down_revision = "0008_schedules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_items") as batch:
        batch.add_column(sa.Column("network", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("network_grant", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("network_granted_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("network_granted_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("isolation", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("isolation")
    with op.batch_alter_table("catalog_items") as batch:
        batch.drop_column("network_granted_at")
        batch.drop_column("network_granted_by")
        batch.drop_column("network_grant")
        batch.drop_column("network")
