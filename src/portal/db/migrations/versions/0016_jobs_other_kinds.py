"""The jobs list's kind filter: a partial index on the jobs that are not runs of an item (imports, tests, dry
runs), by kind, so that a filtered list counts them without reading every job.

Revision ID: 0016_jobs_other_kinds
Revises: 0015_usage_spans
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_jobs_other_kinds"
down_revision = "0015_usage_spans"
branch_labels = None
depends_on = None

_OTHER = sa.text("kind <> 'catalog_execution'")


def upgrade() -> None:
    op.create_index("ix_jobs_other_kinds", "jobs", ["kind", "id"], sqlite_where=_OTHER, postgresql_where=_OTHER)


def downgrade() -> None:
    op.drop_index("ix_jobs_other_kinds", table_name="jobs")
