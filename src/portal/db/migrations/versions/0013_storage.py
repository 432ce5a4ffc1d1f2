"""Storage: the bundle browser counts each bundle's jobs and finds its last use (an index on the jobs' bundle), and
an item may have a storage quota of its own.

Revision ID: 0013_storage
Revises: 0012_catalog_lifecycle
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_storage"
down_revision = "0012_catalog_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_bundle_sha256_id", "jobs", ["bundle_sha256", "id"])
    # Plain ADD COLUMN (see 0012): a batch copy of catalog_items on SQLite would cascade to every version.
    op.add_column("catalog_items", sa.Column("storage_quota_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("catalog_items", "storage_quota_bytes")
    op.drop_index("ix_jobs_bundle_sha256_id", table_name="jobs")
