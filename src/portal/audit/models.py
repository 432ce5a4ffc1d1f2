"""The audit log table.

Listed newest first by (at, id): every filter has an index ending in (at, id), so a filter plus a time range and a
keyset cursor is one walk along one index (see `portal.audit.query`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.base import Base, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_actor_id_id", "actor_id", "id"),
        Index("ix_audit_log_at_id", "at", "id"),
        Index("ix_audit_log_actor_name_at_id", "actor_name", "at", "id"),
        Index("ix_audit_log_action_at_id", "action", "at", "id"),
        Index("ix_audit_log_target_type_at_id", "target_type", "at", "id"),
        Index("ix_audit_log_target_id_at_id", "target_id", "at", "id"),
        Index("ix_audit_log_request_id_at_id", "request_id", "at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(default=None)
    actor_name: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32), default=None)
    target_id: Mapped[str | None] = mapped_column(String(200), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
