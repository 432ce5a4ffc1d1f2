"""`/api/admin/...`: job control (operator+), the dashboard's stats and the system page (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from portal.admin import health, system
from portal.admin import stats as stats_service
from portal.admin.schemas import HealthDetailed, Stats, SystemStatus
from portal.auth.deps import Admin, Operator
from portal.identity.principal import Principal
from portal.identity.roles import Role
from portal.jobs import control
from portal.jobs import service as jobs_service
from portal.jobs.schemas import BulkRequest, BulkResponse, JobCreated, JobOut, RetryRequest
from portal.ratelimit import limiter
from portal.responses import RowId
from portal.settings import get_settings

router = APIRouter(prefix="/api/admin", tags=["admin"])

_409: dict[int | str, dict[str, Any]] = {
    409: {"description": "the job is not in a state this action applies to (`details.state` is its state)"}
}
_429: dict[int | str, dict[str, Any]] = {
    429: {"description": "too many job-control calls from this user (`Retry-After` says when to try again)"}
}
CONTROL_RESPONSES = {**_409, **_429}


def job_control_limit(principal: Operator) -> Principal:
    limiter.check("job control", principal.id or 0, get_settings().admin_rate_per_minute)
    return principal


def bulk_limit(principal: Operator) -> Principal:
    limiter.check("bulk", principal.id or 0, get_settings().admin_bulk_rate_per_minute)
    return principal


Controller = Annotated[Principal, Depends(job_control_limit)]


@router.post(
    "/jobs/{job_id}/retry",
    operation_id="admin-jobs-retry",
    response_model=JobCreated,
    status_code=201,
    responses=CONTROL_RESPONSES,
)
def retry(
    job_id: RowId,
    principal: Controller,
    body: Annotated[
        RetryRequest | None,
        Body(openapi_examples={"same inputs": {"value": {}}, "edited": {"value": {"inputs": {"label": "again"}}}}),
    ] = None,
) -> JobCreated:
    """Retry a FAILED or CANCELLED job of anyone as a new linked job, with its inputs or edited ones; counts as
    a submission of the operator's (PORTAL_JOB_SUBMIT_RATE_PER_MINUTE). Role: operator."""
    limiter.check("job submission", principal.id or 0, get_settings().job_submit_rate_per_minute)
    job = jobs_service.retry_job(principal, job_id, body.inputs if body else None)
    return JobCreated(**job.model_dump(), job_id=job.id)


@router.post(
    "/jobs/{job_id}/cancel", operation_id="admin-jobs-cancel", response_model=JobOut, responses=CONTROL_RESPONSES
)
def cancel(job_id: RowId, principal: Controller) -> JobOut:
    """Cancel a PENDING_APPROVAL, QUEUED or RUNNING job of anyone. Role: operator."""
    return jobs_service.cancel_job(principal, job_id)


@router.delete("/jobs/{job_id}", operation_id="admin-jobs-delete", response_model=JobOut, responses=CONTROL_RESPONSES)
def cancel_by_delete(job_id: RowId, principal: Controller) -> JobOut:
    """The same as `POST /api/admin/jobs/{job_id}/cancel` (the admin control plane's spec names both): the job is
    cancelled, not erased; its history stays until the retention prunes it. Role: operator."""
    return jobs_service.cancel_job(principal, job_id)


@router.post("/jobs/{job_id}/run", operation_id="admin-jobs-run", response_model=JobOut, responses=CONTROL_RESPONSES)
def force_run(job_id: RowId, principal: Controller) -> JobOut:
    """Force-run: a QUEUED job jumps the queue; a PENDING_APPROVAL job starts without its approvals.

    Role: operator (admin for a job that waits for approval)."""
    return control.force_run(principal, job_id)


@router.post("/jobs/bulk", operation_id="admin-jobs-bulk", response_model=BulkResponse, responses=_429)
def bulk(
    principal: Annotated[Principal, Depends(bulk_limit)],
    body: Annotated[
        BulkRequest,
        Body(
            openapi_examples={
                "ids": {"value": {"action": "cancel", "ids": [12, 13, 14]}},
                "filter": {"value": {"action": "retry", "filter": {"state": ["FAILED"], "item_id": "backup-config"}}},
            }
        ),
    ],
) -> BulkResponse:
    """Retry, cancel or force-run many jobs (by ids or a filter), each on its own, with a result per job.

    One call touches at most `PORTAL_ADMIN_BULK_MAX` jobs (422 beyond). A retry counts its jobs as submissions
    of the operator's (PORTAL_JOB_SUBMIT_RATE_PER_MINUTE). Role: operator (admin to start a job that waits for
    approval).
    """
    settings = get_settings()
    if body.action == "retry":
        jobs = len(body.ids) if body.ids is not None else settings.admin_bulk_max
        limiter.check("job submission", principal.id or 0, settings.job_submit_rate_per_minute, cost=jobs)
    return control.bulk(principal, body, settings.admin_bulk_max)


@router.get("/stats", operation_id="admin-stats", response_model=Stats)
def stats(principal: Operator) -> Stats:
    """Live counters, queues, jobs per hour, slowest and most failing items, workers and alerts. Role: operator
    (a failed import's details, in its alert, for publishers and admins)."""
    return stats_service.stats(import_details=principal.has(Role.publisher))


@router.get("/health/detailed", operation_id="admin-health-detailed", response_model=HealthDetailed)
def health_detailed(_: Operator) -> HealthDetailed:
    """Every API node and worker (last heartbeat, running jobs), queue depths in the database and the broker, and
    the readiness checks of the node that answers. Role: operator."""
    return health.detailed()


@router.get("/system", operation_id="admin-system", response_model=SystemStatus)
def system_status(_: Admin) -> SystemStatus:
    """Version, uptime, database, event bus, storage, memory, request and job rates. Role: admin."""
    return system.status()
