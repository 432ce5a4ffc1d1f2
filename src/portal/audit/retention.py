"""Audit retention: entries older than `PORTAL_AUDIT_RETENTION_DAYS` (0: kept for ever) are deleted, oldest first,
in transactions of at most `BATCH` entries; each pruning run leaves one entry saying how many went."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from portal.audit import service as audit
from portal.audit.models import AuditEntry
from portal.db import session as db
from portal.db.base import utcnow
from portal.settings import get_settings

BATCH = 2000


def prune(now: datetime | None = None, *, max_batches: int | None = None) -> int:
    """Delete the entries past their retention (at most `max_batches` transactions; None: all); how many went."""
    days = get_settings().audit_retention_days
    if not days:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=days)
    deleted = batches = 0
    while max_batches is None or batches < max_batches:
        with db.write() as s:
            ids = list(
                s.scalars(
                    select(AuditEntry.id)
                    .where(AuditEntry.at < cutoff)
                    .order_by(AuditEntry.at, AuditEntry.id)
                    .limit(BATCH)
                )
            )
            if ids:
                s.execute(delete(AuditEntry).where(AuditEntry.id.in_(ids)))
        deleted += len(ids)
        batches += 1
        if len(ids) < BATCH:
            break
    if deleted:
        with db.write() as s:
            audit.record(
                s,
                None,
                "audit.prune",
                target_type="audit",
                details={"deleted": deleted, "before": cutoff.isoformat(), "retention_days": days},
                actor_name="system",
            )
    return deleted
