"""Storage and retention: the bundle browser counts each bundle's jobs and finds its last use (an index on the
jobs' bundle); an item may have a storage quota and a job retention of its own; a job whose logs, progress and
result the retention removed says when.

Revision ID: 0013_storage
Revises: 0012_catalog_lifecycle
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portal.db.base import UTCDateTime

revision = "0013_storage"
down_revision = "0012_catalog_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_bundle_sha256_id", "jobs", ["bundle_sha256", "id"])
    # Plain ADD COLUMN (see 0012): a batch copy of catalog_items on SQLite would cascade to every version.
    op.add_column("catalog_items", sa.Column("storage_quota_bytes", sa.BigInteger(), nullable=True))
    op.add_column("catalog_items", sa.Column("job_retention_days", sa.Integer(), nullable=True))
    op.add_column("jobs", sa.Column("pruned_at", UTCDateTime(), nullable=True))
    # Deleting a job checks the test cases that refer to it: without this, a scan of the table per job.
    op.create_index("ix_item_test_cases_job_id", "item_test_cases", ["job_id"])
    if op.get_bind().dialect.name == "sqlite":
        # Until now the counters' upsert bound the rollup hour untyped, which SQLite stored as another string than
        # the column's own format: after a recount an hour could have two rows. One recount puts every hour in the
        # column's format, which the upsert now binds too.
        from portal.jobs.counters import rebuild

        rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_item_test_cases_job_id", table_name="item_test_cases")
    op.drop_column("jobs", "pruned_at")
    op.drop_column("catalog_items", "job_retention_days")
    op.drop_column("catalog_items", "storage_quota_bytes")
    op.drop_index("ix_jobs_bundle_sha256_id", table_name="jobs")
