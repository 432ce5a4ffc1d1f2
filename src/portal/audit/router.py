"""`GET /api/admin/audit`: the audit trail, filtered and keyset-paged (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from portal.audit import service
from portal.audit.schemas import AuditPage
from portal.auth.deps import Admin

router = APIRouter(prefix="/api/admin/audit", tags=["admin"])


@router.get("", operation_id="audit-list", response_model=AuditPage)
def list_audit(
    _: Admin,
    action: str | None = Query(default=None, max_length=64, description="e.g. job.cancel"),
    actor: str | None = Query(default=None, max_length=64),
    target_type: str | None = Query(default=None, max_length=32),
    target_id: str | None = Query(default=None, max_length=200),
    request_id: str | None = Query(default=None, max_length=64),
    before_id: int | None = Query(default=None, ge=1),
    limit: int = Query(default=100, ge=1, le=1000),
) -> AuditPage:
    return service.list_entries(
        action=action,
        actor=actor,
        target_type=target_type,
        target_id=target_id,
        request_id=request_id,
        before_id=before_id,
        limit=limit,
    )
