"""Tables of catalog items, their versions and the stored bundles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, Text, UniqueConstraint
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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CatalogVersion(Base):
    __tablename__ = "catalog_versions"
    __table_args__ = (UniqueConstraint("item_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("catalog_items.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="active")
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
