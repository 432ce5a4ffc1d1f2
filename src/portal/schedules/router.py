"""`/api/admin/schedules`: scheduled runs. Operators (who see and control every job) may read them; admins
create, change, enable, disable, delete and run them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from portal.auth.deps import Admin, Operator
from portal.jobs.schemas import JobOut
from portal.responses import RowId
from portal.schedules import service
from portal.schedules.schemas import (
    MAX_NEXT_RUNS,
    NextRuns,
    ScheduleCreate,
    ScheduleDetail,
    SchedulePage,
    SchedulePreviewRequest,
    ScheduleUpdate,
)

router = APIRouter(prefix="/api/admin/schedules", tags=["admin"])


@router.get("", operation_id="schedules-list", response_model=SchedulePage)
def list_schedules(
    _: Operator,
    q: Annotated[str | None, Query(max_length=200, description="part of the name or item id")] = None,
    enabled: bool | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> SchedulePage:
    """Schedules by name, with their next and last runs. Role: operator."""
    return service.list_schedules(q=q, enabled=enabled, page=page, page_size=page_size)


@router.post("", operation_id="schedules-create", response_model=ScheduleDetail, status_code=201)
def create_schedule(body: ScheduleCreate, principal: Admin) -> ScheduleDetail:
    """Schedule an item version with fixed inputs; 422 names each field at fault (cron, timezone, item_id,
    version, inputs.<name>), 409 when the name is taken. Its jobs run as the caller. Role: admin."""
    return service.create_schedule(principal, body)


@router.post("/preview", operation_id="schedules-preview", response_model=NextRuns)
def preview(body: SchedulePreviewRequest, _: Operator) -> NextRuns:
    """The next runs of an expression in a time zone, without saving anything (422 naming the field). Role:
    operator."""
    return service.preview(body)


@router.get("/{schedule_id}", operation_id="schedules-get", response_model=ScheduleDetail)
def get_schedule(schedule_id: RowId, _: Operator) -> ScheduleDetail:
    """A schedule with its next 5 runs and its 10 most recent ticks. Role: operator."""
    return service.get_schedule(schedule_id)


@router.patch("/{schedule_id}", operation_id="schedules-update", response_model=ScheduleDetail)
def update_schedule(schedule_id: RowId, body: ScheduleUpdate, principal: Admin) -> ScheduleDetail:
    """Change the given fields (a sensitive input sent as `***` keeps its value); the caller becomes the user
    its jobs run as. Role: admin."""
    return service.update_schedule(principal, schedule_id, body)


@router.delete("/{schedule_id}", operation_id="schedules-delete", status_code=204)
def delete_schedule(schedule_id: RowId, principal: Admin) -> Response:
    """Delete a schedule (the jobs it created stay). Role: admin."""
    service.delete_schedule(principal, schedule_id)
    return Response(status_code=204)


@router.post("/{schedule_id}/enable", operation_id="schedules-enable", response_model=ScheduleDetail)
def enable_schedule(schedule_id: RowId, principal: Admin) -> ScheduleDetail:
    """Run from the next tick after now (ticks missed while disabled are not run). Role: admin."""
    return service.set_enabled(principal, schedule_id, True)


@router.post("/{schedule_id}/disable", operation_id="schedules-disable", response_model=ScheduleDetail)
def disable_schedule(schedule_id: RowId, principal: Admin) -> ScheduleDetail:
    """Stop creating jobs until enabled again. Role: admin."""
    return service.set_enabled(principal, schedule_id, False)


@router.get("/{schedule_id}/next", operation_id="schedules-next-runs", response_model=NextRuns)
def next_runs(schedule_id: RowId, _: Operator, count: Annotated[int, Query(ge=1, le=MAX_NEXT_RUNS)] = 5) -> NextRuns:
    """The next `count` ticks after now, in UTC and in the schedule's time zone. Role: operator."""
    return service.next_runs(schedule_id, count)


@router.post("/{schedule_id}/run", operation_id="schedules-run-now", response_model=JobOut, status_code=201)
def run_now(schedule_id: RowId, principal: Admin) -> JobOut:
    """Create a job with the schedule's version and inputs now, as the caller; the ticks are unchanged. Role:
    admin."""
    return service.run_now(principal, schedule_id)
