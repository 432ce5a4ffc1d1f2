"""The database bundle store: bundle bytes in a table every node can read.

Revision ID: 0006_bundle_store
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portal.db.base import UTCDateTime

revision = "0006_bundle_store"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bundle_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_bundle_blobs"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Bundles are gzip already: store them out of line without trying to compress them again.
        op.execute("ALTER TABLE bundle_blobs ALTER COLUMN content SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("bundle_blobs")
