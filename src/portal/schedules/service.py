"""Schedules: admins keep them; the scheduler's tick turns each due one into exactly one job per tick.

A tick is claimed in the transaction that creates its job: a conditional update advances `next_run_at` from the
value that was read (`WHERE id = ? AND next_run_at = ?`), and a `schedule_runs` row unique per (schedule, due
time) records it. Only the scheduler whose update matched and whose row went in creates the job, so any number
of schedulers (threads, processes, nodes) may tick the same database. The job is handed to the executor after
the commit, like every job.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.auth import service as auth_service
from portal.catalog import queries as catalog_queries
from portal.catalog import service as catalog_service
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict, NotFound, PortalError, ValidationFailed
from portal.identity.principal import Principal
from portal.identity.roles import Role
from portal.jobs import service as jobs_service
from portal.jobs import writer
from portal.jobs.schemas import JobOut
from portal.schedules import cron
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
from portal.secrets.masking import MASK, Masker
from portal.settings import get_settings

log = logging.getLogger(__name__)
LATEST = "latest"
SCHEDULER = "scheduler"  # the actor name of the scheduler's own audit entries
SHOWN_NEXT_RUNS = 5
RECENT_RUNS = 10
MAX_ERROR_CHARS = 2000
schedules_t: Table = Schedule.__table__  # type: ignore[assignment]
runs_t: Table = ScheduleRun.__table__  # type: ignore[assignment]
# Set after a change commits, so the scheduler loop of this process looks at the schedules again at once.
changed = threading.Event()
_AUDITED = ("name", "description", "item_id", "version", "inputs", "cron", "timezone", "enabled")


# --- checks ---------------------------------------------------------------------------------------------------


def _problem(field_name: str, message: str) -> dict[str, str]:
    return {"field": field_name, "message": message}


def _parse(expression: str, timezone: str, problems: list[dict[str, str]]) -> cron.Cron | None:
    """The checked expression, or None with the problems (cron, timezone, too frequent) added."""
    try:
        cron.zone(timezone)
    except cron.CronError as exc:
        problems.append(_problem(exc.field, exc.message))
        timezone = "UTC"  # still check the expression itself
    try:
        parsed = cron.parse(expression, timezone)
    except cron.CronError as exc:
        problems.append(_problem(exc.field, exc.message))
        return None
    minimum = get_settings().scheduler_min_interval_seconds
    gap = cron.smallest_gap(parsed, utcnow())
    if gap is not None and gap.total_seconds() < minimum:
        problems.append(
            _problem(
                "cron",
                f"runs {gap.total_seconds():g} s apart at times; schedules must be at least {minimum:g} s apart "
                "(PORTAL_SCHEDULER_MIN_INTERVAL_SECONDS)",
            )
        )
        return None
    return parsed if not any(p["field"] == "timezone" for p in problems) else None


def _resolve(item_id: str, version: str, problems: list[dict[str, str]]) -> catalog_service.RunnableVersion | None:
    """The version a schedule names, or None with the problem (item_id or version) added."""
    try:
        runnable = catalog_queries.resolve_runnable(item_id, version)
    except NotFound as exc:
        where = exc.details.get("field") if isinstance(exc.details, dict) else None
        problems.append(_problem(where or "item_id", exc.message))
        return None
    except Conflict as exc:  # archived or otherwise not runnable
        problems.append(_problem("version", exc.message))
        return None
    if version != LATEST and runnable.deprecated:
        problems.append(
            _problem(
                "version",
                f"{item_id} {version} is deprecated ({runnable.deprecated}): pin another version or use latest",
            )
        )
        return None
    return runnable


def _check_inputs(
    runnable: catalog_service.RunnableVersion,
    inputs: dict[str, Any],
    problems: list[dict[str, str]],
    sealed: dict[str, Any] | None = None,
) -> None:
    """Inputs against the version's schema (problems on `inputs.<field>`); Conflict when secrets are missing.

    `sealed` are the schedule's stored sensitive values: a message about them, or about the inputs as a whole
    (which quotes them), is not shown, and any other message has them masked. The version may have changed
    since they were sealed (a field no longer marked sensitive), so the version's own marks are not enough.
    """
    masker = Masker(sealed.values()) if sealed else None
    try:
        jobs_service.check_runnable(runnable, inputs)
    except ValidationFailed as exc:
        details = exc.details if isinstance(exc.details, list) else []
        for detail in details:
            field_name = str(detail.get("field") or "")
            where = "inputs" if field_name in ("", "(root)") else f"inputs.{field_name}"
            message = str(detail.get("message"))
            if sealed and (where == "inputs" or field_name.split(".")[0].split("[")[0] in sealed):
                message = "does not match the schema (not shown: it involves a stored sensitive value)"
            elif masker is not None:
                message = masker.text(message)
            problems.append(_problem(where, message))
        if not details:
            problems.append(_problem("inputs", exc.message))


def _raise(problems: list[dict[str, str]]) -> None:
    if problems:
        fields = ", ".join(dict.fromkeys(p["field"] for p in problems))
        raise ValidationFailed(f"the schedule is not valid ({fields})", details=problems)


def _all_inputs(schedule: Schedule) -> dict[str, Any]:
    """The inputs in clear: the stored ones with the sealed sensitive values put back."""
    inputs = dict(schedule.inputs or {})
    if schedule.sealed_inputs:
        inputs.update(crypto.unseal(schedule.sealed_inputs))
    return inputs


def _with_kept_secrets(schedule: Schedule, given: dict[str, Any]) -> dict[str, Any]:
    """New inputs where a sensitive value given as `***` keeps the stored one (it is never shown to anyone)."""
    if not schedule.sealed_inputs:
        return given
    kept = crypto.unseal(schedule.sealed_inputs)
    return {name: kept[name] if value == MASK and name in kept else value for name, value in given.items()}


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
        "masked_inputs": [k for k, v in inputs.items() if v == MASK] if schedule.sealed_inputs else [],
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
    parsed = _parse(body.cron, body.timezone, problems)
    runnable = _resolve(body.item_id, body.version, problems)
    if runnable is not None:
        _check_inputs(runnable, body.inputs, problems)
    _raise(problems)
    assert parsed is not None  # no problems: both were checked
    assert runnable is not None
    stored, sealed = jobs_service.seal_sensitive(runnable, body.inputs)
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
    changed.set()
    return detail


def update_schedule(
    actor: Principal, schedule_id: int, body: ScheduleUpdate, action: str = "schedule.update"
) -> ScheduleDetail:
    """Change the given fields (checked like a new schedule). A new expression, time zone or enabling starts
    from the next tick after now: ticks missed meanwhile are not run. The caller becomes the owner."""
    given = body.model_dump(exclude_unset=True)
    for key in ("name", "item_id", "version", "inputs", "cron", "timezone", "enabled"):
        if key in given and given[key] is None:
            raise ValidationFailed(f"{key} cannot be null", details=[_problem(key, "cannot be null")])
    with db.read() as s:
        current = _get(s, schedule_id)
    item_id = given.get("item_id", current.item_id)
    version = given.get("version", current.version)
    expression = given.get("cron", current.cron)
    timezone = given.get("timezone", current.timezone)
    enabled = given.get("enabled", current.enabled)
    problems: list[dict[str, str]] = []
    parsed = _parse(expression, timezone, problems)
    stored, sealed = dict(current.inputs or {}), current.sealed_inputs
    if {"item_id", "version", "inputs"} & set(given):
        inputs = _with_kept_secrets(current, given["inputs"]) if "inputs" in given else _all_inputs(current)
        runnable = _resolve(item_id, version, problems)
        if runnable is not None:
            kept = crypto.unseal(current.sealed_inputs) if current.sealed_inputs else None
            _check_inputs(runnable, inputs, problems, kept)
            stored, sealed = jobs_service.seal_sensitive(runnable, inputs)
    _raise(problems)
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
    changed.set()
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
    changed.set()


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
    parsed = _parse(body.cron, body.timezone, problems)
    _raise(problems)
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
    runnable, inputs = _prepare(schedule)
    with db.write() as s:
        row = jobs_service.insert_job_in(
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


# --- the scheduler's tick -------------------------------------------------------------------------------------


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


def _prepare(schedule: Schedule) -> tuple[catalog_service.RunnableVersion, dict[str, Any]]:
    """The version to run and the inputs in clear, checked like a new job's (PortalError when they are not)."""
    problems: list[dict[str, str]] = []
    runnable = _resolve(schedule.item_id, schedule.version, problems)
    inputs = _all_inputs(schedule)
    if runnable is not None:
        sealed = crypto.unseal(schedule.sealed_inputs) if schedule.sealed_inputs else None
        _check_inputs(runnable, inputs, problems, sealed)
    _raise(problems)
    assert runnable is not None
    return runnable, inputs


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


def _fire(schedule_id: int, due_at: datetime, now: datetime, report: TickReport) -> None:
    """Claim one tick and create its job (or record why it could not), all in one transaction."""
    with db.read() as s:
        schedule = s.get(Schedule, schedule_id)
    if schedule is None or not schedule.enabled or schedule.next_run_at != due_at:
        return  # another scheduler fired it meanwhile, or an admin changed it
    error: str | None = None
    following: datetime | None = None
    prepared: tuple[Principal, catalog_service.RunnableVersion, dict[str, Any]] | None = None
    try:
        # Missed ticks (the portal was down) run once, now; the schedule goes on from the next tick after now.
        following = cron.next_run(cron.parse(schedule.cron, schedule.timezone), max(now, due_at))
    except cron.CronError as exc:
        error = f"{exc.field}: {exc.message}; the schedule cannot run until it is fixed"
    if error is None:
        try:
            owner = _owner(schedule)
            runnable, inputs = _prepare(schedule)
            prepared = (owner, runnable, inputs)
        except PortalError as exc:
            error = _describe(exc)
        except Exception as exc:  # recorded on the tick like any other failure: it must not stay due forever
            log.exception("schedule %s: preparing the tick due at %s failed", schedule_id, due_at)
            error = f"unexpected error ({type(exc).__name__}); see the portal's log"
    row: Row[Any] | None = None
    with db.write() as s:
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
            return  # another scheduler advanced it first
        run_id = s.execute(
            _claim_tick(s.get_bind().dialect.name), {"schedule_id": schedule_id, "due_at": due_at, "at": now}
        ).scalar()
        if run_id is None:
            return  # this tick already ran (the schedule was moved back onto it): keep it advanced, no job
        due_text = due_at.isoformat()
        if prepared is not None:
            owner, runnable, inputs = prepared
            row = jobs_service.insert_job_in(
                s,
                owner,
                runnable,
                inputs,
                created_message=f"created by schedule #{schedule_id} {schedule.name} (tick due {due_text})",
            )
            s.execute(update(runs_t).where(runs_t.c.id == run_id).values(job_id=row.id))
            s.execute(
                update(schedules_t)
                .where(schedules_t.c.id == schedule_id)
                .values(last_job_id=row.id, last_error=None, last_error_at=None)
            )
            audit.record(
                s,
                None,
                "schedule.run",
                target_type="schedule",
                target_id=schedule_id,
                details={
                    "name": schedule.name,
                    "job_id": row.id,
                    "due_at": due_text,
                    "version": runnable.version,
                    "runs_as": owner.username,
                },
                actor_name=SCHEDULER,
            )
        else:
            assert error is not None
            s.execute(update(runs_t).where(runs_t.c.id == run_id).values(error=error))
            s.execute(
                update(schedules_t).where(schedules_t.c.id == schedule_id).values(last_error=error, last_error_at=now)
            )
            # Every failed tick is in schedule_runs; the audit log gets the first of a streak and each new reason,
            # so a broken every-minute schedule does not flood it.
            if error != schedule.last_error:
                audit.record(
                    s,
                    None,
                    "schedule.run_failed",
                    target_type="schedule",
                    target_id=schedule_id,
                    details={"name": schedule.name, "due_at": due_text, "error": error},
                    actor_name=SCHEDULER,
                )
    if row is not None:
        report.jobs.append(row.id)
    else:
        report.failed.append(schedule_id)
        log.warning("schedule %s (%s): the tick due at %s did not run: %s", schedule_id, schedule.name, due_at, error)
