"""Storage quotas: the bytes all the catalog's bundles may take (`PORTAL_STORAGE_QUOTA_BYTES`) and the bytes one
item's bundles may take (the item's own quota, else `PORTAL_STORAGE_ITEM_QUOTA_BYTES`); 0 is no limit.

Both count stored bundles, each once however many versions share it: a re-import of known bytes costs nothing,
and replacing a version's content frees what its old bundle took for that item. Checked inside the import's
transaction, so a batch counts what it added so far and a refused import registers nothing; on PostgreSQL a
transaction-scoped advisory lock per quota makes concurrent imports count one after the other (SQLite has one
writer).
"""

from __future__ import annotations

import zlib

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from portal.catalog.models import Bundle, CatalogItem, CatalogVersion
from portal.errors import PayloadTooLarge
from portal.settings import get_settings


class QuotaExceeded(PayloadTooLarge):
    code = "quota_exceeded"


def item_usage(s: Session, item_id: str, leaving_out: str | None = None) -> int:
    """Bytes the distinct bundles of an item's versions take (`leaving_out`: a version about to be replaced)."""
    versions = select(CatalogVersion.bundle_sha256).where(CatalogVersion.item_id == item_id)
    if leaving_out is not None:
        versions = versions.where(CatalogVersion.version != leaving_out)
    return int(s.scalar(select(func.coalesce(func.sum(Bundle.size), 0)).where(Bundle.sha256.in_(versions))) or 0)


def item_quota(item: CatalogItem) -> int:
    """An item's quota in bytes (0: no limit)."""
    own = item.storage_quota_bytes
    return own if own is not None else get_settings().storage_item_quota_bytes


def check(s: Session, item: CatalogItem, version: str, sha256: str, size: int) -> None:
    """Refuse (413 `quota_exceeded`, naming the quota and by how much) a version whose bundle would take either
    quota past its limit."""
    known = s.get(Bundle, sha256) is not None
    total_limit = get_settings().storage_quota_bytes
    limit = item_quota(item)
    if total_limit and not known:
        _serialize(s, "quota:total")
        used = int(s.scalar(select(func.coalesce(func.sum(Bundle.size), 0))) or 0)
        _refuse_over("total", "PORTAL_STORAGE_QUOTA_BYTES", total_limit, used, size, item.id)
    if limit:
        _serialize(s, f"quota:item:{item.id}")
        shared = s.scalar(
            select(func.count()).where(
                CatalogVersion.item_id == item.id,
                CatalogVersion.version != version,
                CatalogVersion.bundle_sha256 == sha256,
            )
        )
        if not shared:
            used = item_usage(s, item.id, leaving_out=version)
            source = (
                "the item's own quota" if item.storage_quota_bytes is not None else "PORTAL_STORAGE_ITEM_QUOTA_BYTES"
            )
            _refuse_over("item", source, limit, used, size, item.id)


def _serialize(s: Session, name: str) -> None:
    """Hold a lock named `name` until the transaction ends (PostgreSQL; SQLite writers are one at a time)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(f"portal:{name}".encode())})


def _refuse_over(quota: str, source: str, limit: int, used: int, size: int, item_id: str) -> None:
    if used + size <= limit:
        return
    over = used + size - limit
    raise QuotaExceeded(
        f"importing this bundle of {item_id} ({size} bytes) would take the {quota} storage quota ({source}: "
        f"{limit} bytes, {used} in use) over by {over} bytes",
        details={"quota": quota, "item_id": item_id, "limit": limit, "used": used, "size": size, "over_by": over},
    )
