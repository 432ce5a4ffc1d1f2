"""Catalog provenance and speed: tree digests, development folders, denormalized version lists.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import semver
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_items") as batch:
        batch.add_column(sa.Column("versions", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("catalog_versions") as batch:
        batch.add_column(sa.Column("tree_digest", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("dev_path", sa.Text(), nullable=True))
        batch.create_index("ix_catalog_versions_tree_digest", ["tree_digest"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("source_path", sa.Text(), nullable=True))
    _fill_version_lists()


def _fill_version_lists() -> None:
    """Existing items get their list of active versions, highest semver first."""
    conn = op.get_bind()
    found: dict[str, list[str]] = {}
    for item_id, version in conn.execute(
        sa.text("SELECT item_id, version FROM catalog_versions WHERE status = 'active'")
    ):
        found.setdefault(item_id, []).append(version)
    items = sa.table("catalog_items", sa.column("id", sa.String), sa.column("versions", sa.JSON))
    for item_id, versions in found.items():
        versions.sort(key=lambda v: semver.Version.parse(v), reverse=True)
        conn.execute(sa.update(items).where(items.c.id == item_id).values(versions=versions))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("source_path")
    with op.batch_alter_table("catalog_versions") as batch:
        batch.drop_index("ix_catalog_versions_tree_digest")
        batch.drop_column("dev_path")
        batch.drop_column("tree_digest")
    with op.batch_alter_table("catalog_items") as batch:
        batch.drop_column("versions")
