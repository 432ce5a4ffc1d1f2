"""The scheduler's tick: each due schedule becomes exactly one job per tick, whoever ticks.

A tick is claimed in the transaction that creates its job: a conditional update advances `next_run_at` from the
value that was read (`WHERE id = ? AND next_run_at = ?`), and a `schedule_runs` row unique per (schedule, due
time) records it. Only the scheduler whose update matched and whose row went in creates the job, so any number
of schedulers (threads, processes, nodes) may tick the same database. The job is handed to the executor after
the commit, like every job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.auth import service as auth_service
from portal.catalog import queries as catalog_queries
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict, NotFound, PortalError
from portal.identity.principal import Principal
from portal.identity.roles import Role
from portal.jobs import submission
from portal.schedules import checks, cron
from portal.schedules.models import Schedule, ScheduleRun

log = logging.getLogger(__name__)
SCHEDULER = "scheduler"  # the actor name of the scheduler's own audit entries
MAX_ERROR_CHARS = 2000
schedules_t: Table = Schedule.__table__  # type: ignore[assignment]
runs_t: Table = ScheduleRun.__table__  # type: ignore[assignment]


def _owner(schedule: Schedule) -> Principal:
    """The user a schedule's jobs run as, while they are an enabled admin."""
    takeover = "an admin must save or enable the schedule to take it over"
    if schedule.owner_id is None:
        raise Conflict(f"the schedule has no owner; {takeover}")
    try:
        user = auth_service.get_user(schedule.owner_id)
    except NotFound:
        raise Conflict(f"its owner {schedule.owner_name} no longer exists; {takeover}") from None
    role = Role.parse(user.role)
    if user.disabled:
        raise Conflict(f"its owner {user.username} is disabled; {takeover}")
    if role < Role.admin:
        raise Conflict(f"its owner {user.username} is no longer an admin; {takeover}")
    return Principal(id=user.id, username=user.username, role=role, via="schedule")


def _describe(exc: PortalError) -> str:
    text = exc.message
    if isinstance(exc.details, list):
        parts = [f"{d.get('field')}: {d.get('message')}" for d in exc.details if isinstance(d, dict)]
        if parts:
            text = f"{text}: {'; '.join(parts)}"
    return text[:MAX_ERROR_CHARS]


@dataclass
class TickReport:
    """What one tick did: jobs created, schedules whose tick failed (recorded on them), the next due time."""

    jobs: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    next_due: datetime | None = None


def _claim_tick(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(runs_t).on_conflict_do_nothing(index_elements=["schedule_id", "due_at"]).returning(runs_t.c.id)


def prune_runs(before: datetime) -> int:
    """Forget the ticks recorded before `before` (their jobs stay). Safe: a schedule's next tick is never moved
    back before now, so a forgotten tick cannot fire again."""
    with db.write() as s:
        result = s.execute(delete(runs_t).where(runs_t.c.at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def tick(now: datetime | None = None, limit: int = 100) -> TickReport:
    """Fire every enabled schedule whose next tick is due (at most `limit`, oldest first). Safe to run from any
    number of threads and processes at once: each tick creates one job, in whichever of them claims it."""
    now = now or utcnow()
    report = TickReport()
    with db.read() as s:
        due = s.execute(
            select(Schedule.id, Schedule.next_run_at)
            .where(Schedule.enabled.is_(True), Schedule.next_run_at <= now)
            .order_by(Schedule.next_run_at, Schedule.id)
            .limit(limit)
        ).all()
    for schedule_id, due_at in due:
        if due_at is None:  # pragma: no cover - compared with now above, so never null
            continue
        try:
            _fire(schedule_id, due_at, now, report)
        except Exception:  # one schedule's unexpected failure must not stop the others, nor the loop
            log.exception("schedule %s: the tick due at %s failed", schedule_id, due_at)
    with db.read() as s:
        report.next_due = s.scalar(select(func.min(Schedule.next_run_at)).where(Schedule.enabled.is_(True)))
    return report


Prepared = tuple[Principal, catalog_queries.RunnableVersion, dict[str, Any]]


def _fire(schedule_id: int, due_at: datetime, now: datetime, report: TickReport) -> None:
    """Claim one tick and create its job (or record why it could not), all in one transaction."""
    with db.read() as s:
        schedule = s.get(Schedule, schedule_id)
    if schedule is None or not schedule.enabled or schedule.next_run_at != due_at:
        return  # another scheduler fired it meanwhile, or an admin changed it
    following, prepared, error = _prepare_tick(schedule, due_at, now)
    row: Row[Any] | None = None
    with db.write() as s:
        run_id = _claim(s, schedule_id, due_at, now, following)
        if run_id is None:
            return  # another scheduler claimed it first, or this tick already ran
        if prepared is not None:
            row = _record_job(s, schedule, run_id, due_at, prepared)
        else:
            assert error is not None
            _record_failure(s, schedule, run_id, due_at, now, error)
    if row is not None:
        report.jobs.append(row.id)
    else:
        report.failed.append(schedule_id)
        log.warning("schedule %s (%s): the tick due at %s did not run: %s", schedule_id, schedule.name, due_at, error)


def _prepare_tick(
    schedule: Schedule, due_at: datetime, now: datetime
) -> tuple[datetime | None, Prepared | None, str | None]:
    """The tick after this one, and who runs what (or why the tick cannot run), worked out before claiming it."""
    try:
        # Missed ticks (the portal was down) run once, now; the schedule goes on from the next tick after now.
        following = cron.next_run(cron.parse(schedule.cron, schedule.timezone), max(now, due_at))
    except cron.CronError as exc:
        return None, None, f"{exc.field}: {exc.message}; the schedule cannot run until it is fixed"
    try:
        owner = _owner(schedule)
        runnable, inputs = checks.prepare(schedule)
        return following, (owner, runnable, inputs), None
    except PortalError as exc:
        return following, None, _describe(exc)
    except Exception as exc:  # recorded on the tick like any other failure: it must not stay due forever
        log.exception("schedule %s: preparing the tick due at %s failed", schedule.id, due_at)
        return following, None, f"unexpected error ({type(exc).__name__}); see the portal's log"


def _claim(s: Session, schedule_id: int, due_at: datetime, now: datetime, following: datetime | None) -> int | None:
    """Advance the schedule from the tick that was read and record the tick: its run id, or None when another
    scheduler advanced it first or the tick already ran (the schedule was moved back onto it: it stays advanced)."""
    claimed = s.execute(
        update(schedules_t)
        .where(
            schedules_t.c.id == schedule_id,
            schedules_t.c.next_run_at == due_at,
            schedules_t.c.enabled.is_(True),
        )
        .values(next_run_at=following, last_run_at=now)
        .returning(schedules_t.c.id)
    ).first()
    if claimed is None:
        return None
    run_id = s.execute(
        _claim_tick(s.get_bind().dialect.name), {"schedule_id": schedule_id, "due_at": due_at, "at": now}
    ).scalar()
    return None if run_id is None else int(run_id)


def _record_job(s: Session, schedule: Schedule, run_id: int, due_at: datetime, prepared: Prepared) -> Row[Any]:
    owner, runnable, inputs = prepared
    due_text = due_at.isoformat()
    row = submission.insert_run(
        s,
        owner,
        runnable,
        inputs,
        created_message=f"created by schedule #{schedule.id} {schedule.name} (tick due {due_text})",
    )
    s.execute(update(runs_t).where(runs_t.c.id == run_id).values(job_id=row.id))
    s.execute(
        update(schedules_t)
        .where(schedules_t.c.id == schedule.id)
        .values(last_job_id=row.id, last_error=None, last_error_at=None)
    )
    audit.record(
        s,
        None,
        "schedule.run",
        target_type="schedule",
        target_id=schedule.id,
        details={
            "name": schedule.name,
            "job_id": row.id,
            "due_at": due_text,
            "version": runnable.version,
            "runs_as": owner.username,
        },
        actor_name=SCHEDULER,
    )
    return row


def _record_failure(s: Session, schedule: Schedule, run_id: int, due_at: datetime, now: datetime, error: str) -> None:
    s.execute(update(runs_t).where(runs_t.c.id == run_id).values(error=error))
    s.execute(update(schedules_t).where(schedules_t.c.id == schedule.id).values(last_error=error, last_error_at=now))
    # Every failed tick is in schedule_runs; the audit log gets the first of a streak and each new reason,
    # so a broken every-minute schedule does not flood it.
    if error != schedule.last_error:
        audit.record(
            s,
            None,
            "schedule.run_failed",
            target_type="schedule",
            target_id=schedule.id,
            details={"name": schedule.name, "due_at": due_at.isoformat(), "error": error},
            actor_name=SCHEDULER,
        )
