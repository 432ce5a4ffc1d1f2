"""`/api/admin/sources`: the catalog's sources as one document. Read, validate, save (If-Match), revisions,
diffs and rollback. Every body shows credentials redacted. Role: admin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from portal.auth.deps import Admin
from portal.jobs.schemas import JobOut
from portal.responses import RowId
from portal.sources import refresh as refreshes
from portal.sources import service
from portal.sources.schemas import RevisionDetail, RevisionDiff, RevisionPage, SaveResult, SourcesView, ValidationAnswer
from portal.values import MAX_ID

router = APIRouter(prefix="/api/admin/sources", tags=["admin"])

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
_DOCUMENT = {"$ref": "#/components/schemas/SourcesDocument"}
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
Refresh = Annotated[bool, Query(description="refresh each new or changed enabled source once saved")]
Probe = Annotated[
    bool,
    Query(
        description="probe each new or changed enabled source before saving (git ls-remote with its credential, "
        "the folder readable): one that does not answer makes the save a 422; false saves while a remote is down"
    ),
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


@router.put("", operation_id="sources-save", response_model=SaveResult, openapi_extra=_JSON_OR_YAML_BODY)
async def save_sources(
    request: Request,
    principal: Admin,
    response: Response,
    if_match: IfMatch = None,
    message: Message = "",
    refresh: Refresh = False,
    probe: Probe = True,
) -> SaveResult:
    """Replace the whole document (JSON, or YAML text with Content-Type application/yaml or text/yaml: problems
    then carry their line). If-Match is required (428 without; 409 `stale_revision` when the
    document changed since it was read, its current ETag in `details`); 422 `validation_failed` with the
    validation answer in `details` when invalid; otherwise a new revision (none when nothing changed), audited.
    A masked value (`***`) left as read keeps the stored credential. With `refresh=true`, each new or changed
    enabled source is refreshed (`refresh_jobs`). Role: admin."""
    body = await request.body()
    yaml_input = _is_yaml(request)
    result = await run_in_threadpool(
        refreshes.save, principal, body, if_match, message, refresh=refresh, yaml_input=yaml_input, probe=probe
    )
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
def rollback(
    revision: RowId, principal: Admin, response: Response, if_match: IfMatch = None, refresh: Refresh = False
) -> SaveResult:
    """Save the content of an older revision as a new revision (checked again; If-Match required as for a
    save); with `refresh=true` the sources it changes are refreshed. Role: admin."""
    result = refreshes.rollback(principal, revision, if_match, refresh=refresh)
    response.headers["ETag"] = result.current.etag
    return result


SourceId = Annotated[str, Path(min_length=1, max_length=64, description="the source's id")]


@router.post(
    "/{source_id}/refresh",
    operation_id="sources-refresh",
    response_model=JobOut,
    status_code=202,
    responses={
        200: {"model": JobOut, "description": "a refresh of the source was already queued or running: that one"},
        404: {"description": "no such source"},
        409: {"description": "the source is disabled"},
        429: {"description": "the last refresh ended less than PORTAL_SOURCES_REFRESH_MIN_SECONDS ago (Retry-After)"},
    },
)
def refresh_source(source_id: SourceId, principal: Admin, response: Response) -> JobOut:
    """Refresh a source as a `source_refresh` job: 202 with the new job, or 200 with the one already queued or
    running for it. Its status (`GET`) says how it went once it ends, announced as `sources.updated`. Role: admin."""
    job, created = refreshes.request_refresh(principal, source_id, why="requested")
    if not created:
        response.status_code = 200
    return job
