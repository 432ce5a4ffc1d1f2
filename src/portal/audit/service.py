"""Write audit entries inside the caller's transaction, so an action and its record commit together."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from portal.audit.models import AuditEntry
from portal.auth.principal import Principal
from portal.context import client_ip_var, request_id_var
from portal.db.base import utcnow


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
    session.execute(
        insert(AuditEntry).values(
            at=utcnow(),
            actor_id=actor.id if actor else None,
            actor_name=actor_name or (actor.username if actor else "anonymous"),
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            details=details or {},
            ip=client_ip_var.get(),
            request_id=request_id_var.get(),
        )
    )
