"""Jobs API: launch, list, read, retry and cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import FileResponse

from portal.auth.deps import CurrentUser, Requester
from portal.errors import ValidationFailed
from portal.identity.principal import Principal
from portal.jobs import control, kinds, queries, service
from portal.jobs.schemas import (
    DecisionRequest,
    EventPage,
    JobCreate,
    JobCreated,
    JobDetail,
    JobOut,
    JobPage,
    LogPage,
    RetryRequest,
)
from portal.jobs.states import JobState
from portal.ratelimit import limiter
from portal.responses import RowId, download, json_response
from portal.settings import get_settings
from portal.values import MAX_ID

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

_EXAMPLE = {
    "item_id": "backup-config",
    "version": "2.0.0",
    "inputs": {
        "devices": ["router-1", "switch-2"],
        "bucket": "my-backup-bucket",
        "encryption": True,
        "schedule": "daily",
    },
}


def _count_submission(principal: Principal) -> None:
    limiter.check("job submission", principal.id or 0, get_settings().job_submit_rate_per_minute)


@router.post("", operation_id="jobs-create", response_model=JobCreated, status_code=201)
def create_job(
    principal: Requester,
    body: Annotated[
        JobCreate,
        Body(
            openapi_examples={
                "new": {"value": _EXAMPLE},
                "original": {"value": {"report_type": "catalog", "parameters": _EXAMPLE}},
            }
        ),
    ],
) -> Response:
    """Validate the inputs against the item's schema and queue a job (201), or 422 with every field's error;
    429 with Retry-After beyond PORTAL_JOB_SUBMIT_RATE_PER_MINUTE of the user's submissions."""
    _count_submission(principal)
    job = service.create_job(principal, body.item_id, body.version, body.inputs)
    return json_response(JobCreated(**job.model_dump(), job_id=job.id), 201)


def _states(state: str | None) -> list[JobState] | None:
    if not state:
        return None
    try:
        return [JobState(part.strip().upper()) for part in state.split(",") if part.strip()]
    except ValueError:
        raise ValidationFailed(
            "unknown state",
            details=[{"field": "state", "message": "one or more of " + ", ".join(s.value for s in JobState)}],
        ) from None


def _kinds(kind: str | None) -> list[str] | None:
    if not kind:
        return None
    wanted = [part.strip() for part in kind.split(",") if part.strip()]
    unknown = sorted(set(wanted) - set(kinds.LISTED))
    if unknown:
        raise ValidationFailed(
            "unknown kind",
            details=[{"field": "kind", "message": f"{', '.join(unknown)}: not one of {', '.join(kinds.LISTED)}"}],
        )
    return wanted


@router.get("", operation_id="jobs-list", response_model=JobPage)
def list_jobs(
    principal: CurrentUser,
    state: str | None = Query(default=None, description="one state or several, comma-separated"),
    kind: str | None = Query(
        default=None,
        max_length=200,
        description="one kind or several, comma-separated: " + ", ".join(kinds.LISTED),
    ),
    item_id: str | None = Query(default=None, max_length=64),
    q: str | None = Query(default=None, max_length=200, description="search job id, item and user"),
    page: int = Query(default=1, ge=1, le=100_000),
    page_size: int = Query(default=50, ge=1, le=queries.MAX_PAGE_SIZE),
    sort: str = Query(default="-id", pattern=r"^-?(id|created_at|updated_at|state|item_id|progress)$"),
) -> Response:
    """Jobs the caller may see (requesters: their own), filtered and searched before paging."""
    return json_response(
        queries.list_jobs(
            principal,
            states=_states(state),
            job_kinds=_kinds(kind),
            item_id=item_id,
            q=q,
            page=page,
            page_size=page_size,
            sort=sort,
        )
    )


@router.get("/approvals", operation_id="jobs-awaiting-approval", response_model=list[JobOut])
def awaiting_my_approval(principal: CurrentUser) -> list[JobOut]:
    """Jobs waiting for an approval that the caller may give (not their own, not yet decided)."""
    return control.waiting_for(principal)


@router.get("/{job_id}", operation_id="jobs-get", response_model=JobDetail)
def get_job(job_id: RowId, principal: CurrentUser) -> Response:
    return json_response(queries.get_job(principal, job_id))


@router.get("/{job_id}/bundle", operation_id="jobs-bundle", response_class=FileResponse)
def job_bundle(job_id: int, principal: CurrentUser) -> Response:
    """The bundle the job ran (the `.tar.gz` of its version as it was), also once that version was archived and
    purged. Who may see the job may download it."""
    return download(*service.bundle_of(principal, job_id))


@router.get("/{job_id}/events", operation_id="jobs-events", response_model=EventPage)
def get_events(
    job_id: RowId,
    principal: CurrentUser,
    after: int = Query(default=0, ge=0, le=MAX_ID),
    limit: int = Query(default=200, ge=1, le=1000),
) -> EventPage:
    """A job's timeline, oldest first, a page at a time (`next_after` until null). Transitions are all kept;
    progress is sampled (see PORTAL_JOB_PROGRESS_EVENTS). Role: the job's owner, operator+, or its approvers."""
    return queries.get_events(principal, job_id, after, limit)


@router.get("/{job_id}/logs", operation_id="jobs-logs", response_model=LogPage)
def get_logs(
    job_id: RowId,
    principal: CurrentUser,
    after: int = Query(default=0, ge=0, le=MAX_ID),
    limit: int = Query(default=500, ge=1, le=5000),
) -> LogPage:
    return queries.get_logs(principal, job_id, after, limit)


@router.post("/{job_id}/retry", operation_id="jobs-retry", response_model=JobCreated, status_code=201)
def retry_job(job_id: RowId, principal: Requester, body: RetryRequest | None = None) -> JobCreated:
    """A new job for the same item version, linked by `retry_of` (409 unless failed or cancelled).

    It reuses the inputs, or takes edited ones; sensitive inputs (never stored) must be given again (422).
    Counts as a submission (429 beyond PORTAL_JOB_SUBMIT_RATE_PER_MINUTE).
    """
    _count_submission(principal)
    job = service.retry_job(principal, job_id, body.inputs if body else None)
    return JobCreated(**job.model_dump(), job_id=job.id)


@router.post("/{job_id}/approve", operation_id="jobs-approve", response_model=JobOut)
def approve_job(job_id: RowId, body: DecisionRequest, principal: CurrentUser) -> JobOut:
    """Approve a job waiting for approval (approvers named by the item; never the requester). The last approval
    needed queues it."""
    return control.approve(principal, job_id, body.comment)


@router.post("/{job_id}/reject", operation_id="jobs-reject", response_model=JobOut)
def reject_job(job_id: RowId, body: DecisionRequest, principal: CurrentUser) -> JobOut:
    """Reject a job waiting for approval: it is cancelled with the reason."""
    return control.reject(principal, job_id, body.comment)


@router.post("/{job_id}/cancel", operation_id="jobs-cancel", response_model=JobOut)
def cancel_job(job_id: RowId, principal: Requester) -> JobOut:
    """Queued: cancelled at once. Running: the child's process group is killed (the state follows within 2 s)."""
    return service.cancel_job(principal, job_id)
