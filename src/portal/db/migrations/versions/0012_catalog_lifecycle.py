"""Catalog administration: the lifecycle state of each version (with its reason, sunset date, who changed it and
its history), per-item review policy and editable metadata, channels (named pointers to versions, with their
history), and the dependencies versions declare. Versions whose manifest deprecates them start `deprecated`.

Revision ID: 0012_catalog_lifecycle
Revises: 0011_secret_grant_versions
Create Date: 2026-12-04
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from portal.db.base import UTCDateTime

revision = "0012_catalog_lifecycle"
down_revision = "0011_secret_grant_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, never a batch copy: on SQLite a copy drops and recreates the table, and dropping
    # catalog_items cascades to every version of every item.
    version_columns: tuple[sa.Column[Any], ...] = (
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("sunset_at", UTCDateTime(), nullable=True),
        sa.Column("status_changed_at", UTCDateTime(), nullable=True),
        sa.Column("status_changed_by", sa.String(length=64), nullable=True),
        sa.Column("archived_from", sa.String(length=20), nullable=True),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("reviewed_at", UTCDateTime(), nullable=True),
        sa.Column("tests", sa.JSON(), nullable=True),
    )
    for column in version_columns:
        op.add_column("catalog_versions", column)
    op.create_index("ix_catalog_versions_status", "catalog_versions", ["status"])
    item_columns: tuple[sa.Column[Any], ...] = (
        sa.Column("review_policy", sa.String(length=16), nullable=True),
        sa.Column("tests_required", sa.Boolean(), nullable=True),
        sa.Column("featured", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("notice", sa.Text(), nullable=True),
        sa.Column("overrides", sa.JSON(), nullable=True),
        sa.Column("maintainers", sa.JSON(), nullable=True),
    )
    for column in item_columns:
        op.add_column("catalog_items", column)
    op.create_table(
        "catalog_version_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_catalog_version_events_item", "catalog_version_events", ["item_id", "version", "id"])
    op.create_table(
        "catalog_channels",
        sa.Column("item_id", sa.String(length=64), sa.ForeignKey("catalog_items.id", ondelete="CASCADE")),
        sa.Column("name", sa.String(length=32)),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("item_id", "name"),
    )
    op.create_table(
        "catalog_channel_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("from_version", sa.String(length=64), nullable=True),
        sa.Column("to_version", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_catalog_channel_events_item", "catalog_channel_events", ["item_id", "channel", "id"])
    op.create_table(
        "catalog_dependencies",
        sa.Column("item_id", sa.String(length=64)),
        sa.Column("version", sa.String(length=64)),
        sa.Column("depends_on", sa.String(length=64)),
        sa.Column("range", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("item_id", "version", "depends_on"),
    )
    op.create_index("ix_catalog_dependencies_depends_on", "catalog_dependencies", ["depends_on"])
    op.create_table(
        "item_test_cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("expect", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_item_test_cases_version", "item_test_cases", ["item_id", "version", "run", "id"])
    op.create_index("ix_job_hourly_item_hour", "job_hourly", ["item_id", "hour"])
    _deprecated_from_manifests()
    _dependencies_from_manifests()
    _maintainers_from_importers()


def _deprecated_from_manifests() -> None:
    """A version its manifest deprecates was `active` with a label: it becomes `deprecated`, with the reason."""
    versions = sa.table(
        "catalog_versions",
        sa.column("id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("manifest", sa.JSON()),
        sa.column("status_reason", sa.Text()),
    )
    conn = op.get_bind()
    for row in conn.execute(sa.select(versions.c.id, versions.c.manifest).where(versions.c.status == "active")):
        note = (row.manifest or {}).get("deprecated")
        if note is True or (isinstance(note, str) and note.strip()):
            reason = note.strip() if isinstance(note, str) else "deprecated"
            conn.execute(
                versions.update().where(versions.c.id == row.id).values(status="deprecated", status_reason=reason)
            )


def _dependencies_from_manifests() -> None:
    """The dependencies every version's manifest declares (accepted before, never read)."""
    from portal.catalog.manifest import parse_dependencies  # the parser imports use, at this revision

    versions = sa.table(
        "catalog_versions",
        sa.column("item_id", sa.String()),
        sa.column("version", sa.String()),
        sa.column("manifest", sa.JSON()),
    )
    dependencies = sa.table(
        "catalog_dependencies",
        sa.column("item_id", sa.String()),
        sa.column("version", sa.String()),
        sa.column("depends_on", sa.String()),
        sa.column("range", sa.String()),
    )
    conn = op.get_bind()
    rows: list[dict[str, Any]] = []
    for item_id, version, manifest in conn.execute(
        sa.select(versions.c.item_id, versions.c.version, versions.c.manifest)
    ):
        found, _ = parse_dependencies((manifest or {}).get("dependencies") or [])
        rows.extend(
            {"item_id": item_id, "version": version, "depends_on": other, "range": wanted}
            for other, wanted in dict(found).items()
            if other != item_id
        )
    if rows:
        conn.execute(dependencies.insert(), rows)


def _maintainers_from_importers() -> None:
    """Publishers now manage only the items they maintain: an existing item's maintainers are the publishers who
    imported its versions (items only admins or the system imported stay open to every publisher, as before)."""
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT DISTINCT v.item_id, v.imported_by FROM catalog_versions v "
            "JOIN users u ON u.username = v.imported_by WHERE u.role = 'publisher'"
        )
    ).all()
    found: dict[str, list[str]] = {}
    for item_id, username in rows:
        found.setdefault(item_id, []).append(username)
    items = sa.table("catalog_items", sa.column("id", sa.String()), sa.column("maintainers", sa.JSON()))
    for item_id, names in found.items():
        conn.execute(items.update().where(items.c.id == item_id).values(maintainers=sorted(names)))


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE catalog_versions SET status = 'active' WHERE status = 'deprecated'"))
    conn.execute(
        sa.text("UPDATE catalog_versions SET status = 'archived' WHERE status IN ('draft', 'in_review', 'rejected')")
    )
    op.drop_index("ix_job_hourly_item_hour", table_name="job_hourly")
    op.drop_index("ix_item_test_cases_version", table_name="item_test_cases")
    op.drop_table("item_test_cases")
    op.drop_index("ix_catalog_dependencies_depends_on", table_name="catalog_dependencies")
    op.drop_table("catalog_dependencies")
    op.drop_index("ix_catalog_channel_events_item", table_name="catalog_channel_events")
    op.drop_table("catalog_channel_events")
    op.drop_table("catalog_channels")
    op.drop_index("ix_catalog_version_events_item", table_name="catalog_version_events")
    op.drop_table("catalog_version_events")
    op.drop_index("ix_catalog_versions_status", table_name="catalog_versions")
    # Plain DROP COLUMN (SQLite 3.35+ and PostgreSQL): a batch copy would drop and recreate catalog_items, and
    # dropping it cascades to every table that refers to it.
    for table, columns in (
        ("catalog_items", ("maintainers", "overrides", "notice", "featured", "tests_required", "review_policy")),
        (
            "catalog_versions",
            (
                "tests",
                "reviewed_at",
                "reviewed_by",
                "archived_from",
                "status_changed_by",
                "status_changed_at",
                "sunset_at",
                "status_reason",
            ),
        ),
    ):
        for column in columns:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
