"""Schedules as admins keep them: list, read, create, change, enable, delete, preview and run now.

Every change is checked like a new schedule (`schedules.checks`) and wakes this process's scheduler loop at once
(`on_change`); the scheduler's tick that turns due schedules into jobs is `schedules.ticks`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict, NotFound, ValidationFailed
from portal.identity.principal import Principal
from portal.jobs import submission, writer
from portal.jobs.schemas import JobOut
from portal.schedules import checks, cron
from portal.schedules.models import Schedule, ScheduleRun
from portal.schedules.schemas import (
    NextRun,
    NextRuns,
    ScheduleCreate,
    ScheduleDetail,
    ScheduleOut,
    SchedulePage,
    SchedulePreviewRequest,
    ScheduleRunOut,
    ScheduleUpdate,
)
from portal.secrets import crypto
from portal.secrets.masking import masked_names

log = logging.getLogger(__name__)
SHOWN_NEXT_RUNS = 5
RECENT_RUNS = 10
# Called after a change commits, so the scheduler of this process looks at the schedules again at once.
_change_listeners: list[Callable[[], None]] = []


def on_change(listener: Callable[[], None]) -> Callable[[], None]:
    """Call `listener` after each change of a schedule in this process; returns what stops it."""
    _change_listeners.append(listener)
    return lambda: _change_listeners.remove(listener)


def _changed() -> None:
    for listener in list(_change_listeners):
        listener()


_AUDITED = ("name", "description", "item_id", "version", "inputs", "cron", "timezone", "enabled")


# --- views ----------------------------------------------------------------------------------------------------


def _out(schedule: Schedule) -> dict[str, Any]:
    inputs = dict(schedule.inputs or {})
    return {
        "id": schedule.id,
        "name": schedule.name,
        "description": schedule.description,
        "item_id": schedule.item_id,
        "version": schedule.version,
        "inputs": inputs,
        "masked_inputs": masked_names(inputs) if schedule.sealed_inputs else [],
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "enabled": schedule.enabled,
        "next_run_at": schedule.next_run_at,
        "last_run_at": schedule.last_run_at,
        "last_job_id": schedule.last_job_id,
        "last_error": schedule.last_error,
        "last_error_at": schedule.last_error_at,
        "owner": schedule.owner_name,
        "created_by": schedule.created_by_name,
        "created_at": schedule.created_at,
        "updated_at": schedule.updated_at,
    }


def _runs_of(expression: str, timezone: str, count: int) -> list[NextRun]:
    try:
        parsed = cron.parse(expression, timezone)
        runs = cron.next_runs(parsed, utcnow(), count)
    except cron.CronError:
        return []  # an expression that stopped working (a time zone gone from the system): shown as last_error
    return [NextRun(at=at, local=at.astimezone(parsed.zone).isoformat()) for at in runs]


def _detail(s: Session, schedule: Schedule) -> ScheduleDetail:
    runs = s.scalars(
        select(ScheduleRun)
        .where(ScheduleRun.schedule_id == schedule.id)
        .order_by(ScheduleRun.id.desc())
        .limit(RECENT_RUNS)
    ).all()
    return ScheduleDetail.model_validate(
        {
            **_out(schedule),
            "next_runs": _runs_of(schedule.cron, schedule.timezone, SHOWN_NEXT_RUNS),
            "recent_runs": [ScheduleRunOut.model_validate(r) for r in runs],
        }
    )


def _audited(schedule: Schedule) -> dict[str, Any]:
    return {key: getattr(schedule, key) for key in _AUDITED}


def _get(s: Session, schedule_id: int) -> Schedule:
    schedule = s.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound(f"schedule {schedule_id} not found")
    return schedule


def _next_tick(schedule: Schedule) -> datetime | None:
    if not schedule.enabled:
        return None
    return cron.next_run(cron.parse(schedule.cron, schedule.timezone), utcnow())


# --- the admin API --------------------------------------------------------------------------------------------


def list_schedules(
    *, q: str | None = None, enabled: bool | None = None, page: int = 1, page_size: int = 50
) -> SchedulePage:
    conditions: list[Any] = []
    if q and q.strip():
        like = f"%{q.strip().lower()}%"
        conditions.append(or_(func.lower(Schedule.name).like(like), Schedule.item_id.like(like)))
    if enabled is not None:
        conditions.append(Schedule.enabled.is_(enabled))
    with db.read() as s:
        total = s.scalar(select(func.count()).select_from(Schedule).where(*conditions)) or 0
        rows = s.scalars(
            select(Schedule)
            .where(*conditions)
            .order_by(func.lower(Schedule.name), Schedule.id)
            .offset((page - 1) * page_size)
            .limit(page_size)
        ).all()
        items = [ScheduleOut.model_validate(_out(r)) for r in rows]
    return SchedulePage(items=items, total=total, page=page, page_size=page_size)


def get_schedule(schedule_id: int) -> ScheduleDetail:
    with db.read() as s:
        return _detail(s, _get(s, schedule_id))


def _name_taken(s: Session, name: str, other_than: int | None = None) -> None:
    query = select(Schedule.id).where(func.lower(Schedule.name) == name.lower())
    if other_than is not None:
        query = query.where(Schedule.id != other_than)
    if s.scalar(query) is not None:
        raise Conflict(f"a schedule named {name!r} already exists", details={"field": "name"})


def create_schedule(actor: Principal, body: ScheduleCreate) -> ScheduleDetail:
    """Check everything (every problem at once, each on its field), then store it with its first tick."""
    problems: list[dict[str, str]] = []
    parsed = checks.parse(body.cron, body.timezone, problems)
    runnable = checks.resolve(body.item_id, body.version, problems)
    if runnable is not None:
        checks.check_inputs(runnable, body.inputs, problems, at_launch=True)
    checks.raise_problems(problems)
    assert parsed is not None  # no problems: both were checked
    assert runnable is not None
    stored, sealed = submission.seal_sensitive(runnable.sensitive, body.inputs)
    now = utcnow()
    with db.write() as s:
        _name_taken(s, body.name)
        schedule = Schedule(
            name=body.name,
            description=body.description,
            item_id=body.item_id,
            version=body.version,
            inputs=stored,
            sealed_inputs=sealed,
            cron=parsed.expression,
            timezone=body.timezone,
            enabled=body.enabled,
            next_run_at=cron.next_run(parsed, now) if body.enabled else None,
            owner_id=actor.id,
            owner_name=actor.username,
            created_by_name=actor.username,
            created_at=now,
            updated_at=now,
        )
        s.add(schedule)
        s.flush()
        audit.record(
            s, actor, "schedule.create", target_type="schedule", target_id=schedule.id, details=_audited(schedule)
        )
        detail = _detail(s, schedule)
    _changed()
    return detail


def update_schedule(
    actor: Principal, schedule_id: int, body: ScheduleUpdate, action: str = "schedule.update"
) -> ScheduleDetail:
    """Change the given fields (checked like a new schedule). A new expression, time zone or enabling starts
    from the next tick after now: ticks missed meanwhile are not run. The caller becomes the owner."""
    given = body.model_dump(exclude_unset=True)
    for key in ("name", "item_id", "version", "inputs", "cron", "timezone", "enabled"):
        if key in given and given[key] is None:
            raise ValidationFailed(f"{key} cannot be null", details=[checks.problem(key, "cannot be null")])
    with db.read() as s:
        current = _get(s, schedule_id)
    item_id = given.get("item_id", current.item_id)
    version = given.get("version", current.version)
    expression = given.get("cron", current.cron)
    timezone = given.get("timezone", current.timezone)
    enabled = given.get("enabled", current.enabled)
    problems: list[dict[str, str]] = []
    parsed = checks.parse(expression, timezone, problems)
    stored, sealed = dict(current.inputs or {}), current.sealed_inputs
    if {"item_id", "version", "inputs"} & set(given):
        inputs = checks.with_kept_secrets(current, given["inputs"]) if "inputs" in given else checks.all_inputs(current)
        runnable = checks.resolve(item_id, version, problems)
        if runnable is not None:
            kept = crypto.unseal(current.sealed_inputs) if current.sealed_inputs else None
            checks.check_inputs(runnable, inputs, problems, kept, at_launch=True)
            stored, sealed = submission.seal_sensitive(runnable.sensitive, inputs)
    checks.raise_problems(problems)
    assert parsed is not None
    with db.write() as s:
        schedule = _get(s, schedule_id)
        if "name" in given and given["name"] != schedule.name:
            _name_taken(s, given["name"], other_than=schedule_id)
        before = _audited(schedule)
        retime = (schedule.cron, schedule.timezone, schedule.enabled) != (parsed.expression, timezone, enabled)
        for key, value in (
            ("name", given.get("name", schedule.name)),
            ("description", given.get("description", schedule.description)),
            ("item_id", item_id),
            ("version", version),
            ("inputs", stored),
            ("sealed_inputs", sealed),
            ("cron", parsed.expression),
            ("timezone", timezone),
            ("enabled", enabled),
        ):
            setattr(schedule, key, value)
        if retime:
            schedule.next_run_at = _next_tick(schedule)
        schedule.owner_id, schedule.owner_name = actor.id, actor.username
        schedule.updated_at = utcnow()
        s.flush()
        after = _audited(schedule)
        changes = {key for key in _AUDITED if before[key] != after[key]}
        audit.record(
            s,
            actor,
            action,
            target_type="schedule",
            target_id=schedule_id,
            details={
                "name": schedule.name,
                "before": {k: before[k] for k in sorted(changes)},
                "after": {k: after[k] for k in sorted(changes)},
                "inputs_changed": "inputs" in given,
            },
        )
        detail = _detail(s, schedule)
    _changed()
    return detail


def set_enabled(actor: Principal, schedule_id: int, enabled: bool) -> ScheduleDetail:
    """Enable (from the next tick after now) or disable; the caller becomes the owner."""
    action = "schedule.enable" if enabled else "schedule.disable"
    return update_schedule(actor, schedule_id, ScheduleUpdate(enabled=enabled), action=action)


def delete_schedule(actor: Principal, schedule_id: int) -> None:
    """Delete a schedule and its tick records; the jobs it created stay (their timeline names it)."""
    with db.write() as s:
        schedule = _get(s, schedule_id)
        details = _audited(schedule)
        s.delete(schedule)
        audit.record(s, actor, "schedule.delete", target_type="schedule", target_id=schedule_id, details=details)
    _changed()


def next_runs(schedule_id: int, count: int) -> NextRuns:
    """The next `count` ticks after now of a schedule's expression (what it runs while it is enabled)."""
    with db.read() as s:
        schedule = _get(s, schedule_id)
    return NextRuns(
        cron=schedule.cron, timezone=schedule.timezone, runs=_runs_of(schedule.cron, schedule.timezone, count)
    )


def preview(body: SchedulePreviewRequest) -> NextRuns:
    """The next runs of an expression that is not saved yet (the form shows them as one types); 422 naming
    the field at fault."""
    problems: list[dict[str, str]] = []
    parsed = checks.parse(body.cron, body.timezone, problems)
    checks.raise_problems(problems)
    assert parsed is not None
    runs = cron.next_runs(parsed, utcnow(), body.count)
    return NextRuns(
        cron=parsed.expression,
        timezone=body.timezone,
        runs=[NextRun(at=at, local=at.astimezone(parsed.zone).isoformat()) for at in runs],
    )


def run_now(actor: Principal, schedule_id: int) -> JobOut:
    """A job with the schedule's version and inputs, now, as the caller; the ticks are not affected."""
    with db.read() as s:
        schedule = _get(s, schedule_id)
    runnable, inputs = checks.prepare(schedule)
    with db.write() as s:
        row = submission.insert_run(
            s,
            actor,
            runnable,
            inputs,
            created_message=f"run now of schedule #{schedule_id} {schedule.name} by {actor.username}",
        )
        audit.record(
            s,
            actor,
            "schedule.run_now",
            target_type="schedule",
            target_id=schedule_id,
            details={"name": schedule.name, "job_id": row.id, "version": runnable.version},
        )
    return writer.changed(row)
