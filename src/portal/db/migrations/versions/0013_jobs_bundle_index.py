"""The bundle browser counts each bundle's jobs and finds its last use: an index on the jobs' bundle.

Revision ID: 0013_jobs_bundle_index
Revises: 0012_catalog_lifecycle
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0013_jobs_bundle_index"
down_revision = "0012_catalog_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_bundle_sha256_id", "jobs", ["bundle_sha256", "id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_bundle_sha256_id", table_name="jobs")
