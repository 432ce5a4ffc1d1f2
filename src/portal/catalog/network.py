"""Network access of catalog items: a version declares what it needs (`network:` in its manifest), an admin allows
it per item, and jobs of a version whose need the item's grant does not cover are refused.

A grant records what was allowed, not just "yes": `{}` is any TCP port (but the portal's own services), and
`{"tcp_ports": [...]}` only those. A later version that asks for more is refused until an admin allows it again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.audit import service as audit
from portal.catalog.manifest import network_need
from portal.catalog.models import CatalogItem, CatalogVersion
from portal.catalog.schemas import NetworkAccess
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict, NotFound
from portal.identity.principal import Principal


def covers(grant: dict[str, Any] | None, need: dict[str, Any] | None) -> bool:
    """Whether what an admin allowed covers what a version needs."""
    if need is None:
        return True
    if grant is None:
        return False
    if "tcp_ports" not in grant:
        return True  # any port
    return "tcp_ports" in need and set(need["tcp_ports"]) <= set(grant["tcp_ports"])


def describe(need: dict[str, Any] | None) -> str:
    if need is None:
        return "no network"
    if "tcp_ports" in need:
        return "outbound TCP port(s) " + ", ".join(str(p) for p in need["tcp_ports"])
    return "any outbound TCP port"


def _union(needs: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not needs:
        return None
    if any("tcp_ports" not in need for need in needs):
        return {}
    return {"tcp_ports": sorted({p for need in needs for p in need["tcp_ports"]})}


def check(item_id: str, need: dict[str, Any] | None) -> None:
    """Conflict when a version's network need is not allowed for its item (before a job is created)."""
    if need is None:
        return
    with db.read() as s:
        grant = s.scalar(select(CatalogItem.network_grant).where(CatalogItem.id == item_id))
    if not covers(grant, need):
        raise Conflict(
            f"{item_id} needs network access ({describe(need)}), which an administrator has not allowed",
            details={"field": "network", "needs": need, "allowed": grant},
        )


def allowed(item_id: str, need: dict[str, Any] | None) -> bool:
    """Whether a job of this item with this need may run now (the grant may have been withdrawn since)."""
    try:
        check(item_id, need)
    except Conflict:
        return False
    return True


def _access(s: Any, item: CatalogItem) -> NetworkAccess:
    manifests = s.scalars(select(CatalogVersion.manifest).where(CatalogVersion.item_id == item.id)).all()
    needs = [need for m in manifests if (need := network_need(m)) is not None]
    return NetworkAccess(
        item_id=item.id,
        needs=_union(needs),
        allowed=item.network_grant,
        allowed_by=item.network_granted_by,
        allowed_at=item.network_granted_at,
    )


def get_access(item_id: str) -> NetworkAccess:
    with db.read() as s:
        item = s.get(CatalogItem, item_id)
        if item is None:
            raise NotFound(f"catalog item {item_id!r} not found", details={"field": "item_id"})
        return _access(s, item)


def set_access(actor: Principal, item_id: str, allow: bool) -> NetworkAccess:
    """Allow what the item's versions declare now (all of them together), or withdraw the grant. Audited."""
    with db.write() as s:
        item = s.get(CatalogItem, item_id)
        if item is None:
            raise NotFound(f"catalog item {item_id!r} not found", details={"field": "item_id"})
        before = _access(s, item)
        if allow and before.needs is None:
            raise Conflict(f"no version of {item_id} declares network access", details={"field": "allowed"})
        item.network_grant = before.needs if allow else None
        item.network_granted_by = actor.username if allow else None
        item.network_granted_at = utcnow() if allow else None
        item.updated_at = utcnow()  # the catalog listing shows it
        after = _access(s, item)
        audit.record(
            s,
            actor,
            "catalog.network_allow" if allow else "catalog.network_revoke",
            target_type="item",
            target_id=item_id,
            details={"before": {"allowed": before.allowed}, "after": {"allowed": after.allowed}},
        )
    return after
