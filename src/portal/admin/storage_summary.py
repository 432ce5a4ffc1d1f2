"""What the catalog stores and what it costs: the bundles (by store), what deduplication saves, the orphans a
cleanup would remove, this node's extraction cache, the items that take the most, and growth by day."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from portal.admin.storage_cleanup import orphaned
from portal.admin.storage_schemas import GrowthPoint, ItemStorage, StorageSummary, VersionBytes
from portal.catalog import storage
from portal.catalog.models import Bundle, CatalogVersion
from portal.db import session as db
from portal.db.base import utcnow
from portal.settings import get_settings

TOP_ITEMS = 50
GROWTH_DAYS = 90


def summary() -> StorageSummary:
    cached = storage.cached_bundles()
    with db.read() as s:
        count, stored = s.execute(select(func.count(), func.coalesce(func.sum(Bundle.size), 0))).one()
        referenced = s.scalar(
            select(func.coalesce(func.sum(Bundle.size), 0)).join(
                CatalogVersion, CatalogVersion.bundle_sha256 == Bundle.sha256
            )
        )
        used = s.scalar(
            select(func.coalesce(func.sum(Bundle.size), 0)).where(
                Bundle.sha256.in_(select(CatalogVersion.bundle_sha256))
            )
        )
        orphans, orphan_bytes = s.execute(
            select(func.count(), func.coalesce(func.sum(Bundle.size), 0)).where(orphaned())
        ).one()
        items, items_total = _items(s)
        growth = _growth(s)
    return StorageSummary(
        store=storage.bundle_store().kind,
        bundles=int(count),
        bytes=int(stored),
        referenced_bytes=int(referenced or 0),
        saved_bytes=int(referenced or 0) - int(used or 0),
        orphaned_bundles=int(orphans),
        orphaned_bytes=int(orphan_bytes),
        cache_entries=len(cached),
        cache_bytes=sum(cached.values()),
        quota_bytes=get_settings().storage_quota_bytes,
        items=items,
        items_total=items_total,
        growth=growth,
    )


def _items(s: Session) -> tuple[list[ItemStorage], int]:
    """The items whose bundles take the most (each bundle once per item), with each version's bundle size."""
    pairs = select(CatalogVersion.item_id, CatalogVersion.bundle_sha256).distinct().subquery()
    top = s.execute(
        select(pairs.c.item_id, func.sum(Bundle.size).label("bytes"))
        .join(Bundle, Bundle.sha256 == pairs.c.bundle_sha256)
        .group_by(pairs.c.item_id)
        .order_by(func.sum(Bundle.size).desc(), pairs.c.item_id)
        .limit(TOP_ITEMS)
    ).all()
    total = s.scalar(select(func.count(distinct(CatalogVersion.item_id)))) or 0
    ids = [item_id for item_id, _ in top]
    versions: dict[str, list[VersionBytes]] = {}
    for item_id, version, state, size in s.execute(
        select(CatalogVersion.item_id, CatalogVersion.version, CatalogVersion.status, Bundle.size)
        .join(Bundle, Bundle.sha256 == CatalogVersion.bundle_sha256)
        .where(CatalogVersion.item_id.in_(ids))
        .order_by(CatalogVersion.item_id, CatalogVersion.id.desc())
    ):
        versions.setdefault(item_id, []).append(VersionBytes(version=version, state=state, size=int(size)))
    items = [ItemStorage(item_id=i, bytes=int(b), versions=versions.get(i, [])) for i, b in top]
    return items, int(total)


def _growth(s: Session) -> list[GrowthPoint]:
    """Bytes stored per day over the last `GROWTH_DAYS` days, with the running total (of what is still stored)."""
    start = (utcnow() - timedelta(days=GROWTH_DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    before = int(s.scalar(select(func.coalesce(func.sum(Bundle.size), 0)).where(Bundle.created_at < start)) or 0)
    day = func.date(Bundle.created_at)
    points = []
    running = before
    for on, size in s.execute(
        select(day, func.sum(Bundle.size)).where(Bundle.created_at >= start).group_by(day).order_by(day)
    ):
        running += int(size)
        points.append(GrowthPoint(day=str(on), bytes=int(size), total=running))
    return points
