"""Write audit entries inside the caller's transaction, so an action and its record commit together."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from portal.audit.models import AuditEntry
from portal.audit.schemas import AuditEntryOut, AuditPage
from portal.auth.principal import Principal
from portal.context import client_ip_var, request_id_var
from portal.db import session as db
from portal.db.base import utcnow

_INSERT = insert(AuditEntry.__table__)  # type: ignore[arg-type]


def record(
    session: Session,
    actor: Principal | None,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | int | None = None,
    details: dict[str, Any] | None = None,
    actor_name: str | None = None,
) -> None:
    """Add one audit entry (`action` is `noun.verb`) to the session's transaction."""
    session.connection().execute(
        _INSERT,
        {
            "at": utcnow(),
            "actor_id": actor.id if actor else None,
            "actor_name": actor_name or (actor.username if actor else "anonymous"),
            "action": action,
            "target_type": target_type,
            "target_id": None if target_id is None else str(target_id),
            "details": details or {},
            "ip": client_ip_var.get(),
            "request_id": request_id_var.get(),
        },
    )


def list_entries(
    *,
    action: str | None = None,
    actor: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    request_id: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> AuditPage:
    """Newest first, keyset-paged by id (`before_id`), so any page costs the same."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    if actor:
        query = query.where(AuditEntry.actor_name == actor)
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id:
        query = query.where(AuditEntry.target_id == target_id)
    if request_id:
        query = query.where(AuditEntry.request_id == request_id)
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    with db.read() as s:
        rows = list(s.scalars(query))
    return AuditPage(
        items=[AuditEntryOut.model_validate(r) for r in rows],
        next_before_id=rows[-1].id if len(rows) == limit else None,
    )
