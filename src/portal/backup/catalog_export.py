"""The catalog export: items (metadata and policies), their versions (bundle and lifecycle state), custom channels
and the bundles, in one archive another portal imports (`catalog_import`). Development versions (which run
from a folder of this machine) are left out; so are the versions nobody approved here: drafts and those in
review travel as drafts, rejected ones not at all."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from portal import __version__
from portal.audit import service as audit
from portal.backup.archive import CATALOG, CATALOG_EXPORT, ArchiveWriter, bundle_member
from portal.backup.transfer_schemas import CatalogExportSummary, ExportedCatalog, ExportedItem, ExportedVersion
from portal.catalog import lifecycle, storage
from portal.catalog.administration import OVERRIDABLE
from portal.catalog.bundles import BundleMissing, verified
from portal.catalog.models import CatalogChannel, CatalogItem, CatalogVersion
from portal.catalog.service import version_sort_key
from portal.db import session as db
from portal.identity.principal import Principal


def _settings(item: CatalogItem) -> dict[str, Any]:
    """The item's metadata and policies as the admin API sets them (what is stored, unchecked: the importing portal
    checks each item's against its own rules and notes the ones it refuses)."""
    overrides = {k: v for k, v in (item.overrides or {}).items() if k in OVERRIDABLE}
    given = {
        **overrides,
        "featured": item.featured,
        "notice": item.notice,
        "review_policy": item.review_policy,
        "maintainers": item.maintainers,
        "tests_required": item.tests_required,
        "storage_quota_bytes": item.storage_quota_bytes,
        "job_retention_days": item.job_retention_days,
    }
    return {k: v for k, v in given.items() if v is not None}


def export_catalog(actor: Principal, path: Path, items: list[str] | None = None) -> CatalogExportSummary:
    """Write the export of every item (or of `items`) to `path`."""
    with db.read() as s:
        query = select(CatalogItem).order_by(CatalogItem.id)
        if items:
            query = query.where(CatalogItem.id.in_(items))
        rows = list(s.scalars(query))
        versions: dict[str, list[CatalogVersion]] = {}
        for version in s.scalars(
            select(CatalogVersion).where(
                CatalogVersion.item_id.in_([r.id for r in rows]),
                CatalogVersion.dev_path.is_(None),
                CatalogVersion.status != lifecycle.REJECTED,
            )
        ):
            versions.setdefault(version.item_id, []).append(version)
        channels: dict[str, dict[str, str]] = {}
        for channel in s.scalars(select(CatalogChannel).where(CatalogChannel.item_id.in_([r.id for r in rows]))):
            channels.setdefault(channel.item_id, {})[channel.name] = channel.version
    writer = ArchiveWriter(
        path,
        {
            "created_at": datetime.now(UTC).isoformat(),
            "portal_version": __version__,
            "host": socket.gethostname(),
            "exported_by": actor.username,
        },
        kind=CATALOG_EXPORT,
    )
    try:
        store = storage.bundle_store()
        written: set[str] = set()
        missing: set[str] = set()
        for version in sorted((v for vs in versions.values() for v in vs), key=lambda v: v.bundle_sha256):
            sha256 = version.bundle_sha256
            if sha256 in written or sha256 in missing:
                continue
            try:
                writer.add_bytes(bundle_member(sha256), verified(sha256, store.read(sha256)))
                written.add(sha256)
            except BundleMissing:
                missing.add(sha256)
        exported = ExportedCatalog(
            items=[
                ExportedItem(
                    id=row.id,
                    settings=_settings(row),
                    versions=[
                        ExportedVersion(
                            version=v.version,
                            bundle_sha256=v.bundle_sha256,
                            tree_digest=v.tree_digest,
                            state=v.status,
                            reason=v.status_reason,
                        )
                        for v in sorted(versions.get(row.id, []), key=lambda v: version_sort_key(v.version))
                        if v.bundle_sha256 in written
                    ],
                    channels=channels.get(row.id, {}),
                )
                for row in rows
            ]
        )
        writer.add_bytes(CATALOG, exported.model_dump_json(exclude_none=True).encode())
        summary = CatalogExportSummary(
            items=len(exported.items),
            versions=sum(len(i.versions) for i in exported.items),
            bundles=len(written),
            missing_bundles=sorted(missing),
        )
        writer.close(summary.model_dump())
    except BaseException:
        writer.abandon()
        raise
    with db.write() as s:
        audit.record(s, actor, "catalog.export", target_type="catalog", details=summary.model_dump())
    return summary
