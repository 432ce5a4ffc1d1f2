"""`/api/admin/audit`: the audit trail filtered and keyset-paged, its export and its filters' values (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from portal.audit import service
from portal.audit.schemas import AuditFacets, AuditFilter, AuditPage, ExportFormat
from portal.auth.deps import Admin
from portal.responses import json_response

router = APIRouter(prefix="/api/admin/audit", tags=["admin"])


@router.get("", operation_id="audit-list", response_model=AuditPage)
def list_audit(
    _: Admin,
    filters: Annotated[AuditFilter, Query()],
    limit: int = Query(default=100, ge=1, le=1000),
) -> Response:
    """Entries newest first; follow `next_before_id` until it is null. Role: admin."""
    return json_response(service.list_entries(filters, limit))


@router.get(
    "/export",
    operation_id="audit-export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
def export_audit(
    principal: Admin,
    filters: Annotated[AuditFilter, Query()],
    export_format: ExportFormat = Query(default="csv", alias="format"),
) -> StreamingResponse:
    """Every matching entry as CSV or JSON lines, streamed newest first; the export is audited. Role: admin."""
    export = service.export(principal, filters, export_format)
    return StreamingResponse(
        export.chunks,
        media_type=export.media_type,
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


@router.get("/facets", operation_id="audit-facets", response_model=AuditFacets)
def audit_facets(_: Admin) -> Response:
    """The known actions, actor names and target types (for the filter dropdowns). Role: admin."""
    return json_response(service.facets())
