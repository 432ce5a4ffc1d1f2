"""Tables of catalog items, their versions and the stored bundles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.base import Base, utcnow


class CatalogItem(Base):
    __tablename__ = "catalog_items"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str | None] = mapped_column(String(100), default=None)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    owner: Mapped[str | None] = mapped_column(String(200), default=None)
    latest_version: Mapped[str | None] = mapped_column(String(64), default=None)
    versions: Mapped[list[Any]] = mapped_column(default=list)  # active versions, highest first (denormalized)
    # The network access the latest version declares (denormalized, see manifest.network_need), and what an
    # admin allowed: jobs of a version whose need the grant does not cover are refused.
    network: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    network_grant: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    network_granted_by: Mapped[str | None] = mapped_column(String(64), default=None)
    network_granted_at: Mapped[datetime | None] = mapped_column(default=None)
    # Whether new versions need a review before they run: None follows PORTAL_CATALOG_REVIEW.
    review_policy: Mapped[str | None] = mapped_column(String(16), default=None)
    # Whether a version's tests must pass before it becomes active: None follows PORTAL_CATALOG_TESTS_REQUIRED.
    tests_required: Mapped[bool | None] = mapped_column(default=None)
    # Bytes this item's bundles may take (0: no limit); None follows PORTAL_STORAGE_ITEM_QUOTA_BYTES.
    storage_quota_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # Days its finished jobs are kept (0: for ever); None follows PORTAL_JOB_RETENTION_DAYS.
    job_retention_days: Mapped[int | None] = mapped_column(default=None)
    featured: Mapped[bool] = mapped_column(default=False)
    notice: Mapped[str | None] = mapped_column(Text, default=None)  # shown on the item page
    # What an admin set over the latest manifest's name, description, category, tags and owner.
    overrides: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # The publishers who manage the item (besides admins): usernames.
    maintainers: Mapped[list[Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CatalogVersion(Base):
    __tablename__ = "catalog_versions"
    __table_args__ = (UniqueConstraint("item_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("catalog_items.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    # The lifecycle state (`catalog.lifecycle`), kept here and never in the immutable bundle.
    status: Mapped[str] = mapped_column(String(20), default="active", index=True)
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    sunset_at: Mapped[datetime | None] = mapped_column(default=None)
    status_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    status_changed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    archived_from: Mapped[str | None] = mapped_column(String(20), default=None)  # what a restore goes back to
    reviewed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
    # The test cases it ships (tests/*.json: name, inputs, expect), read at import.
    tests: Mapped[list[Any] | None] = mapped_column(default=None)
    manifest: Mapped[dict[str, Any]] = mapped_column()
    input_schema: Mapped[dict[str, Any]] = mapped_column()
    ui_schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    readme: Mapped[str] = mapped_column(Text, default="")
    bundle_sha256: Mapped[str] = mapped_column(ForeignKey("bundles.sha256"))
    # sha256 of the files themselves (names and contents, uncompressed): an unchanged re-import is found
    # without validating or packing again.
    tree_digest: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    # Development versions run straight from this folder, so an edited task.py takes effect on the next run.
    dev_path: Mapped[str | None] = mapped_column(Text, default=None)
    source: Mapped[dict[str, Any]] = mapped_column(default=dict)
    imported_by: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class Bundle(Base):
    """An immutable tar.gz of one item version, addressed by the sha256 of its bytes."""

    __tablename__ = "bundles"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BundleBlob(Base):
    """The bytes of a bundle, for the database bundle store (`PORTAL_BUNDLE_STORE=database`).

    Apart from `bundles` so that listing and summing bundles never reads their content.
    """

    __tablename__ = "bundle_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogVersionEvent(Base):
    """One change of a version's lifecycle state: the history shown on the admin item page."""

    __tablename__ = "catalog_version_events"
    __table_args__ = (Index("ix_catalog_version_events_item", "item_id", "version", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(20), default=None)
    to_state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogChannel(Base):
    """A named pointer to one version of an item (`stable`, `canary`, ...); `latest` is computed, never stored."""

    __tablename__ = "catalog_channels"

    item_id: Mapped[str] = mapped_column(ForeignKey("catalog_items.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogChannelEvent(Base):
    """One promotion (or removal) of a channel: from which version to which, by whom, why."""

    __tablename__ = "catalog_channel_events"
    __table_args__ = (Index("ix_catalog_channel_events_item", "item_id", "channel", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    from_version: Mapped[str | None] = mapped_column(String(64), default=None)
    to_version: Mapped[str | None] = mapped_column(String(64), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogDependency(Base):
    """One item a version depends on (its manifest's `dependencies`), with the semver range it accepts."""

    __tablename__ = "catalog_dependencies"
    __table_args__ = (Index("ix_catalog_dependencies_depends_on", "depends_on"),)

    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    depends_on: Mapped[str] = mapped_column(String(64), primary_key=True)
    range: Mapped[str] = mapped_column(String(200))


class ImportFailure(Base):
    """An import that registered nothing, with its problems: what the analytics page lists for publishers."""

    __tablename__ = "catalog_import_failures"
    __table_args__ = (Index("ix_catalog_import_failures_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(20))  # local, upload, git, webhook, catalog_export
    target: Mapped[str] = mapped_column(Text)  # the folder, file name or repository and ref
    actor: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[str | None] = mapped_column(String(64), default=None)
    version: Mapped[str | None] = mapped_column(String(64), default=None)
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    problems: Mapped[Any | None] = mapped_column(type_=JSON, default=None)
