"""The life of a catalog version, held in the database next to its immutable bundle.

```
draft ──> in_review ──> active <──> deprecated
  │  ╲        │  ╲         │           │
  │   ╲       │   rejected │           │
  │    ╲      │     │      v           v
  └─────┴─────┴─────┴──> archived ──(restore)──> the state it had
```

`draft`: imported, not runnable. `in_review`: waiting for a reviewer other than its importer (four eyes).
`active`: runnable, offered. `deprecated`: runs, labelled with a reason and an optional sunset date.
`archived`: hidden and not runnable, restorable for `PORTAL_CATALOG_ARCHIVE_RETENTION_DAYS`, then purged (the
bundles that jobs ran stay). `rejected`: a reviewer said no (with the reason).

Every change goes through `transition` (the edge table below, a reason, the actor, a history row and an audit
entry with before and after); an edge the table does not have is a 409 naming both states.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.catalog.models import CatalogVersion, CatalogVersionEvent
from portal.db.base import utcnow
from portal.errors import Conflict
from portal.identity.principal import Principal

DRAFT = "draft"
IN_REVIEW = "in_review"
ACTIVE = "active"
DEPRECATED = "deprecated"
ARCHIVED = "archived"
REJECTED = "rejected"
STATES = (DRAFT, IN_REVIEW, ACTIVE, DEPRECATED, ARCHIVED, REJECTED)

RUNNABLE = frozenset({ACTIVE, DEPRECATED})
# Shown in the catalog to requesters (with their channels); the others only on the admin pages.
OFFERED = RUNNABLE

EDGES: dict[str, frozenset[str]] = {
    DRAFT: frozenset({IN_REVIEW, ACTIVE, ARCHIVED}),
    IN_REVIEW: frozenset({ACTIVE, REJECTED, DRAFT, ARCHIVED}),
    ACTIVE: frozenset({DEPRECATED, ARCHIVED}),
    DEPRECATED: frozenset({ACTIVE, ARCHIVED}),
    ARCHIVED: frozenset({DRAFT, ACTIVE, DEPRECATED, REJECTED}),  # a restore, to the state it had
    REJECTED: frozenset({DRAFT, ARCHIVED}),
}
# Edges only a review takes (the reviewer is not the importer), never a plain transition.
REVIEW_EDGES = frozenset({(IN_REVIEW, ACTIVE), (IN_REVIEW, REJECTED)})


def allowed(current: str, wanted: str) -> bool:
    return wanted in EDGES.get(current, frozenset())


def check_edge(current: str, wanted: str) -> None:
    """Conflict (409) naming both states when the table has no such edge."""
    if wanted not in STATES:
        raise Conflict(
            f"{wanted!r} is not a lifecycle state (one of {', '.join(STATES)})",
            details={"field": "to", "from": current, "to": wanted},
        )
    if not allowed(current, wanted):
        possible = sorted(EDGES.get(current, frozenset()))
        raise Conflict(
            f"a version cannot go from {current} to {wanted}"
            + (f" (from {current}: {', '.join(possible)})" if possible else ""),
            details={"from": current, "to": wanted, "allowed": possible},
        )


def initial_state(manifest: dict[str, Any], *, review_required: bool, draft: bool) -> tuple[str, str | None]:
    """The state of a newly imported version and its reason: a draft when asked, in review when the policy
    wants one, deprecated when its manifest says so, active otherwise."""
    if draft:
        return DRAFT, None
    if review_required:
        return IN_REVIEW, None
    note = manifest.get("deprecated")
    if note is True or (isinstance(note, str) and note.strip()):
        return DEPRECATED, note.strip() if isinstance(note, str) else "deprecated (its manifest says so)"
    return ACTIVE, None


def record(
    s: Session,
    actor: Principal,
    row: CatalogVersion,
    to: str,
    reason: str | None,
    *,
    sunset_at: datetime | None = None,
    action: str = "catalog.version.transition",
    audited: bool = True,
) -> None:
    """Move `row` to `to` (the edge is the caller's to check) with its history row and, unless the caller's own
    entry says it, an audit entry with before and after."""
    before = _snapshot(row)
    now = utcnow()
    if to == ARCHIVED:
        # Restored, a version that waited for a review is a draft again (it is sent to review anew).
        row.archived_from = DRAFT if row.status == IN_REVIEW else row.status
    elif row.status == ARCHIVED:
        row.archived_from = None
    s.add(
        CatalogVersionEvent(
            item_id=row.item_id,
            version=row.version,
            from_state=row.status,
            to_state=to,
            reason=reason,
            actor=actor.username,
            at=now,
        )
    )
    row.status = to
    row.status_reason = reason
    row.sunset_at = sunset_at if to == DEPRECATED else None
    row.status_changed_at = now
    row.status_changed_by = actor.username
    if not audited:
        return
    audit.record(
        s,
        actor,
        action,
        target_type="item_version",
        target_id=f"{row.item_id}@{row.version}",
        details={"before": before, "after": _snapshot(row), "reason": reason},
    )


def _snapshot(row: CatalogVersion) -> dict[str, Any]:
    return {
        "state": row.status,
        "reason": row.status_reason,
        "sunset_at": row.sunset_at.isoformat() if row.sunset_at else None,
    }
