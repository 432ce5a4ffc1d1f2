"""The one writer of job rows: every insert and change of state goes through here, checked against the state graph,
recorded with its timeline event and counters, and announced after the commit (the browsers hear the job's last
row; a queued job reaches the executor). The statements of the hot paths are built once here and executed with
parameters: building a statement per call cost more than running it.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Update

from portal.catalog import service as catalog_service
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict
from portal.events import bus
from portal.identity.principal import Principal
from portal.jobs import counters, executors, kinds, usage
from portal.jobs.messages import JOB_UPDATED, JobUpdatedMessage
from portal.jobs.models import Job, JobEvent, JobLog
from portal.jobs.schemas import JobOut, RunKey
from portal.jobs.states import FINISHED, IllegalTransition, JobState, check_edge

log = logging.getLogger(__name__)
_ANNOUNCE = "portal_announce"  # the rows a unit of work changed, by job id

SUMMARY_COLUMNS = (
    Job.id,
    Job.kind,
    Job.item_id,
    Job.item_version,
    Job.source_path,
    Job.state,
    Job.progress,
    Job.message,
    Job.created_by,
    Job.created_by_name,
    Job.created_at,
    Job.queued_at,
    Job.started_at,
    Job.finished_at,
    Job.updated_at,
    Job.attempt,
    Job.retry_of,
    Job.cancel_requested,
    Job.worker,
    Job.error,
    Job.rev,
    Job.queue,
    Job.priority,
    Job.cpu_ms,
    Job.max_rss_kb,
)


# The hot paths (create, claim, progress, finish) run statements built once here and executed with parameters:
# building a statement per call cost more than running it.
jobs_t: Table = Job.__table__  # type: ignore[assignment]
events_t: Table = JobEvent.__table__  # type: ignore[assignment]
logs_t: Table = JobLog.__table__  # type: ignore[assignment]
SUMMARY = tuple(jobs_t.c[column.key] for column in SUMMARY_COLUMNS)
_INSERT_JOB = insert(jobs_t).returning(*SUMMARY)
_INSERT_EVENT = insert(events_t)
_transitions: dict[tuple[tuple[str, ...], bool], Update] = {}
_EVENT_DEFAULTS = {"from_state": None, "to_state": None, "progress": None, "message": "", "actor": None}


def _transition_statement(keys: tuple[str, ...], held: bool) -> Update:
    """`UPDATE jobs SET state, rev+1, updated_at, <keys> WHERE id = ? AND state = ? [AND worker = ?]
    RETURNING ...`, built once."""
    statement = _transitions.get((keys, held))
    if statement is None:
        conditions = [jobs_t.c.id == bindparam("w_id"), jobs_t.c.state == bindparam("w_state")]
        if held:
            conditions += [jobs_t.c.worker == bindparam("w_worker"), jobs_t.c.started_at == bindparam("w_since")]
        statement = (
            update(jobs_t)
            .where(*conditions)
            .values(
                state=bindparam("v_state"),
                rev=jobs_t.c.rev + 1,
                updated_at=bindparam("v_updated_at"),
                **{key: bindparam(f"v_{key}") for key in keys},
            )
            .returning(*SUMMARY)
        )
        _transitions[(keys, held)] = statement
    return statement


def write_event(conn: Connection, job_id: int, at: Any, kind: str, **fields: Any) -> None:
    conn.execute(_INSERT_EVENT, {**_EVENT_DEFAULTS, **fields, "job_id": job_id, "at": at, "kind": kind})


def summary(row: Row[Any] | Job) -> dict[str, Any]:
    data = {c.key: getattr(row, c.key) for c in SUMMARY_COLUMNS}
    error = data.pop("error")
    data["error_type"] = error.get("type") if isinstance(error, dict) else None
    return data


def publish(row: Row[Any]) -> None:
    if not bus.wanted(JOB_UPDATED):
        return
    job = JobOut.model_validate(summary(row))
    bus.publish(JobUpdatedMessage(job=job, rev=job.rev).model_dump(mode="json"))


def job_out(row: Row[Any] | Job) -> JobOut:
    return JobOut.model_validate(summary(row))


def add_event(s: Session, job_id: int, kind: str, message: str, actor: str | None = None) -> None:
    """A timeline event that is not a state change (approval decisions, priority changes, ...)."""
    write_event(s.connection(), job_id, utcnow(), kind, message=message, actor=actor)


def touch(s: Session, job_id: int, message: str) -> Row[Any]:
    """A new message and revision for a job, without a state change (watchers see it)."""
    row = s.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(message=message, rev=Job.rev + 1, updated_at=utcnow())
        .returning(*SUMMARY_COLUMNS)
    ).one()
    announce(s, row)
    return row


def transition(
    s: Session,
    job_id: int,
    expected: JobState,
    target: JobState,
    values: dict[str, Any],
    *,
    message: str = "",
    actor: str | None = None,
    held_by: RunKey | None = None,
) -> Row[Any] | None:
    """Move one job from `expected` to `target`; None when it was not in `expected` (someone else moved it).
    IllegalTransition, before anything is written, when the state graph has no such edge.

    With `held_by` (a worker and the time it claimed the job), only while that run holds the job: a run that
    lost its job (reaped, then claimed again, by another worker or the same one) can no longer change it.
    """
    check_edge(expected, target)
    if target is JobState.RUNNING:
        # Only a claim starts a job: it records the worker and the start the reaper and the run key rely on.
        raise IllegalTransition("a job starts RUNNING only through a claim (claim_next, claim)")
    now = utcnow()
    conn = s.connection()
    if target in FINISHED:  # every end, REJECTED included (the rollups' counters.FINISHED leaves it out)
        values = {**values, "sealed_inputs": None}  # sensitive inputs live no longer than the job
    if isinstance(values.get("error"), dict):
        values = {**values, **error_columns(values["error"])}
    keys = tuple(sorted(values))
    params = {f"v_{key}": values[key] for key in keys}
    where: dict[str, Any] = {"w_id": job_id, "w_state": expected.value}
    if held_by is not None:
        where["w_worker"], where["w_since"] = held_by
    row = conn.execute(
        _transition_statement(keys, held_by is not None),
        {**params, **where, "v_state": target.value, "v_updated_at": now},
    ).first()
    if row is not None:
        record_move(s, row, expected, target, now, message=message, actor=actor, progress=values.get("progress"))
        announce(s, row)
    return row


_NUMBERS = re.compile(r"\d+")


def error_columns(error: dict[str, Any]) -> dict[str, str]:
    """A failure's type and grouping key (its message with numbers masked, so that "timed out after 31 s" and
    "... 32 s" are one kind of failure), as the error analysis groups them."""
    message = " ".join(str(error.get("message") or "").split())
    return {"error_type": str(error.get("type") or "Error")[:100], "error_key": _NUMBERS.sub("#", message)[:200]}


def record_move(
    s: Session,
    row: Row[Any],
    source: JobState,
    target: JobState,
    now: datetime,
    *,
    message: str = "",
    actor: str | None = None,
    progress: int | None = None,
) -> None:
    """What every change of state records with it, in its transaction: the timeline event and the counters."""
    write_event(
        s.connection(),
        row.id,
        now,
        "state",
        from_state=source.value,
        to_state=target.value,
        message=message,
        actor=actor,
        progress=progress,
    )
    counters.moved(s, row.item_id, row.queue, source.value, target.value, owner=row.created_by)
    if target.value in counters.FINISHED and row.kind == kinds.TASK:  # the hourly rollups count runs of items
        # The stored finish time, as a recount (and the retention, which subtracts it) reads it.
        counters.finished(s, row.item_id, target.value, row.finished_at or now, row.started_at)
        usage.finished(s, row)


def insert_job(
    s: Session,
    actor: Principal | None,
    *,
    kind: str,
    item_id: str,
    item_version: str,
    inputs: dict[str, Any],
    timeout_seconds: int,
    bundle_sha256: str = "",
    entrypoint: str = "",
    source_path: str | None = None,
    resources: dict[str, Any] | None = None,
    retry_of: int | None = None,
    attempt: int = 1,
    actor_name: str | None = None,
    state: JobState = JobState.QUEUED,
    approval: dict[str, Any] | None = None,
    sealed_inputs: str | None = None,
    secrets: tuple[str, ...] = (),
    queue: str = catalog_service.DEFAULT_QUEUE,
    priority: int = 0,
    created_message: str | None = None,
) -> Row[Any]:
    now = utcnow()
    conn = s.connection()
    name = actor_name or (actor.username if actor else "system")
    deadline = now + timedelta(seconds=approval["timeout"]) if approval else None
    row = conn.execute(
        _INSERT_JOB,
        {
            "kind": kind,
            "item_id": item_id,
            "item_version": item_version,
            "bundle_sha256": bundle_sha256,
            "entrypoint": entrypoint,
            "source_path": source_path,
            "inputs": inputs,
            "state": state.value,
            "approval": approval,
            "approval_deadline": deadline,
            "sealed_inputs": sealed_inputs,
            "secrets": list(secrets),
            "created_by": actor.id if actor else None,
            "created_by_name": name,
            "created_at": now,
            "queued_at": now if state is JobState.QUEUED else None,
            "updated_at": now,
            "timeout_seconds": timeout_seconds,
            "resources": resources or {},
            "retry_of": retry_of,
            "attempt": attempt,
            "progress": 0,
            "message": "",
            "rev": 1,
            "cancel_requested": False,
            "priority": priority,
            "queue": queue,
        },
    ).one()
    write_event(
        conn,
        row.id,
        now,
        "state",
        to_state=row.state,
        actor=name,
        message=created_message or (f"retry of job {retry_of}" if retry_of else "created"),
    )
    counters.moved(s, row.item_id, row.queue, None, row.state, owner=row.created_by)
    if kind == kinds.TASK:
        counters.created(s, row.item_id, now)
    if state is JobState.PENDING_APPROVAL and approval is not None:
        write_event(conn, row.id, now, "approval", message=f"waiting for approval: {describe_policy(approval)}")
    announce(s, row)
    return row


def describe_policy(approval: dict[str, Any]) -> str:
    """`2 of alice, bob` or `1 operator`: who may approve, for messages."""
    who = approval["approvers"]
    if "role" in who:
        return f"{approval['count']} {who['role']}{'s' if approval['count'] > 1 else ''}"
    return f"{approval['count']} of {', '.join(who['users'])}"


def announce(s: Session, row: Row[Any]) -> None:
    """Every change of a job row registers this in its unit of work: once it commits, the browsers hear the
    job's last row and, when it is queued, the executor gets it. A job changed twice in one unit of work (a
    requeue that meets a cancel) is announced once, as it ended. No caller publishes or submits by hand."""
    info = db.unit_info(s)
    pending: dict[int, Row[Any]] | None = info.get(_ANNOUNCE)
    if pending is None:
        pending = info[_ANNOUNCE] = {}
        db.after_commit(s, partial(_announce_all, pending))
    pending[row.id] = row  # the last row wins; the job keeps its place among the unit of work's effects


def _announce_all(rows: dict[int, Row[Any]]) -> None:
    for row in rows.values():
        try:
            publish(row)
        except Exception:
            log.exception("publishing job %s failed", row.id)
        if row.state == JobState.QUEUED.value:
            executors.current().submit(row.id, row.queue, row.priority)


def changed(row: Row[Any] | None) -> JobOut:
    """The answer for a change that was made (Conflict when it could not be: someone else moved the job)."""
    if row is None:  # pragma: no cover - the write lock makes this impossible on SQLite
        raise Conflict("the job changed state meanwhile; try again")
    return JobOut.model_validate(summary(row))
