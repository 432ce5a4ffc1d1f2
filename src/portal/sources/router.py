"""`/api/admin/sources`: the catalog's sources as one document. Read, validate, save (If-Match), revisions,
diffs and rollback. Every body shows credentials redacted. Role: admin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from portal.auth.deps import Admin
from portal.responses import RowId
from portal.sources import service
from portal.sources.schemas import RevisionDetail, RevisionDiff, RevisionPage, SaveResult, SourcesView, ValidationAnswer
from portal.values import MAX_ID

router = APIRouter(prefix="/api/admin/sources", tags=["admin"])

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
_DOCUMENT = {"$ref": "#/components/schemas/SourcesDocument"}
_JSON_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {"schema": _DOCUMENT}}}}
_JSON_OR_YAML_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _DOCUMENT},
            "application/yaml": {"schema": {"type": "string", "description": "the document as YAML text"}},
        },
    }
}
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", max_length=200, description="the ETag of the document read (required: 428 without)"),
]
Message = Annotated[str, Query(max_length=service.MAX_MESSAGE, description="why: kept with the revision")]


def _is_yaml(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media in YAML_TYPES


@router.get("", operation_id="sources-get", response_model=SourcesView)
def get_sources(_: Admin, response: Response) -> SourcesView:
    """The current document (credentials redacted), each source with its `status`, and its revision; the ETag
    header (also `etag`) is what a save sends back as If-Match. Role: admin."""
    view = service.current()
    response.headers["ETag"] = view.etag
    return view


@router.put("", operation_id="sources-save", response_model=SaveResult, openapi_extra=_JSON_BODY)
async def save_sources(
    request: Request, principal: Admin, response: Response, if_match: IfMatch = None, message: Message = ""
) -> SaveResult:
    """Replace the whole document (JSON). If-Match is required (428 without; 409 `stale_revision` when the
    document changed since it was read, its current ETag in `details`); 422 `validation_failed` with the
    validation answer in `details` when invalid; otherwise a new revision (none when nothing changed), audited.
    A masked value (`***`) left as read keeps the stored credential. Role: admin."""
    body = await request.body()
    result = await run_in_threadpool(service.save, principal, body, if_match, message)
    response.headers["ETag"] = result.current.etag
    return result


@router.post(
    "/validate", operation_id="sources-validate", response_model=ValidationAnswer, openapi_extra=_JSON_OR_YAML_BODY
)
async def validate_sources(
    request: Request,
    _: Admin,
    probe: Annotated[bool, Query(description="also run the probe layer (git ls-remote, folder readable)")] = False,
) -> ValidationAnswer:
    """The validation answer for a document sent as JSON, or as YAML text (Content-Type application/yaml or
    text/yaml: problems then carry their line); nothing is saved. Role: admin."""
    body = await request.body()
    return await run_in_threadpool(service.validate_body, body, yaml_input=_is_yaml(request), probe=probe)


@router.get("/revisions", operation_id="sources-revisions", response_model=RevisionPage)
def list_revisions(
    _: Admin,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> RevisionPage:
    """Saved revisions, newest first. Role: admin."""
    return service.list_revisions(page, page_size)


@router.get("/revisions/{revision}", operation_id="sources-revision", response_model=RevisionDetail)
def get_revision(revision: RowId, _: Admin) -> RevisionDetail:
    """One revision with its document (credentials redacted). Role: admin."""
    return service.get_revision(revision)


@router.get("/revisions/{revision}/diff", operation_id="sources-revision-diff", response_model=RevisionDiff)
def diff_revision(
    revision: RowId,
    _: Admin,
    against: Annotated[int | None, Query(ge=1, le=MAX_ID, description="older side (default: the one before)")] = None,
) -> RevisionDiff:
    """The changed fields and a unified YAML diff from `against` to `revision` (redacted). Role: admin."""
    return service.diff(revision, against)


@router.post("/revisions/{revision}/rollback", operation_id="sources-rollback", response_model=SaveResult)
def rollback(revision: RowId, principal: Admin, response: Response, if_match: IfMatch = None) -> SaveResult:
    """Save the content of an older revision as a new revision (checked again; If-Match required as for a
    save). Role: admin."""
    result = service.rollback(principal, revision, if_match)
    response.headers["ETag"] = result.current.etag
    return result
