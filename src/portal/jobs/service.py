"""The job service: the only place that changes job state.

Every change is a conditional update from the expected state (never a blind overwrite), writes a timeline event and,
for user actions, an audit entry in the same transaction; the update is published after the commit.
A job is committed before it is handed to the executor, so a fast worker can never be overwritten by a late write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, Row, Table, Update, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from portal import instruments, values
from portal.audit import service as audit
from portal.auth import service as auth_service
from portal.catalog import network as catalog_network
from portal.catalog import service as catalog_service
from portal.catalog.validate import input_errors
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict, Forbidden, NotFound, ValidationFailed
from portal.events import bus
from portal.identity.principal import Principal
from portal.identity.roles import Role
from portal.jobs import counters, executors, history
from portal.jobs.models import Job, JobApproval, JobEvent, JobLog
from portal.jobs.schemas import (
    ApprovalInfo,
    ApprovalOut,
    EventPage,
    JobDetail,
    JobEventOut,
    JobOut,
    JobPage,
    LogLine,
    LogPage,
)
from portal.jobs.states import CANCELLABLE, RETRYABLE, IllegalTransition, JobState, check_edge
from portal.secrets import crypto
from portal.secrets import service as secrets_service
from portal.secrets.masking import MASK

KIND_CATALOG = "catalog_execution"
KIND_IMPORT = "catalog_import"
MAX_PAGE_SIZE = 1000
SORTABLE = {
    "id": Job.id,
    "created_at": Job.id,
    "updated_at": Job.updated_at,
    "state": Job.state,
    "item_id": Job.item_id,
    "progress": Job.progress,
}

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
)


# The hot paths (create, claim, progress, finish) run statements built once here and executed with parameters:
# building a statement per call cost more than running it.
jobs_t: Table = Job.__table__  # type: ignore[assignment]
events_t: Table = JobEvent.__table__  # type: ignore[assignment]
logs_t: Table = JobLog.__table__  # type: ignore[assignment]
SUMMARY = tuple(jobs_t.c[column.key] for column in SUMMARY_COLUMNS)
RUN_COLUMNS = (
    jobs_t.c.bundle_sha256,
    jobs_t.c.entrypoint,
    jobs_t.c.inputs,
    jobs_t.c.timeout_seconds,
    jobs_t.c.resources,
    jobs_t.c.sealed_inputs,
    jobs_t.c.secrets,
)
_INSERT_JOB = insert(jobs_t).returning(*SUMMARY)
_INSERT_EVENT = insert(events_t)
_INSERT_LOG = insert(logs_t)
_CLAIMED = {
    "state": JobState.RUNNING.value,
    "rev": jobs_t.c.rev + 1,
    "updated_at": bindparam("now"),
    "started_at": bindparam("now"),
    "worker": bindparam("worker"),
    "message": "running",
}
_CLAIM = (
    update(jobs_t)
    .where(
        jobs_t.c.id
        == select(jobs_t.c.id)
        .where(jobs_t.c.state == JobState.QUEUED.value)
        .order_by(jobs_t.c.priority.desc(), jobs_t.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery(),
        jobs_t.c.state == JobState.QUEUED.value,
    )
    .values(**_CLAIMED)
    .returning(*SUMMARY, *RUN_COLUMNS)
)
# The distributed executor claims the job its message names.
_CLAIM_ONE = (
    update(jobs_t)
    .where(jobs_t.c.id == bindparam("job_id"), jobs_t.c.state == JobState.QUEUED.value)
    .values(**_CLAIMED)
    .returning(*SUMMARY, *RUN_COLUMNS)
)
_PROGRESS = (
    update(jobs_t)
    .where(
        jobs_t.c.id == bindparam("job_id"),
        jobs_t.c.state == JobState.RUNNING.value,
        jobs_t.c.worker == bindparam("held_by"),
        jobs_t.c.started_at == bindparam("held_since"),
    )
    .values(
        progress=bindparam("progress"), message=bindparam("message"), rev=jobs_t.c.rev + 1, updated_at=bindparam("now")
    )
    .returning(*SUMMARY)
)
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


def _event(conn: Connection, job_id: int, at: Any, kind: str, **fields: Any) -> None:
    conn.execute(_INSERT_EVENT, {**_EVENT_DEFAULTS, **fields, "job_id": job_id, "at": at, "kind": kind})


log = logging.getLogger(__name__)
_ANNOUNCE = "portal_announce"  # the rows a unit of work changed, by job id
# The newest events a job's detail holds; the rest of its timeline is paged (`get_events`).
DETAIL_EVENTS = 100

# A run of a job: the worker that claimed it and the time it did (a worker may claim the same job twice).
RunKey = tuple[str, datetime]


@dataclass(frozen=True)
class ClaimedJob:
    """What the executor needs to run a job it claimed."""

    id: int
    kind: str
    item_id: str
    item_version: str
    bundle_sha256: str
    source_path: str | None
    entrypoint: str
    inputs: dict[str, Any]
    timeout_seconds: int
    resources: dict[str, Any]
    created_by: int | None
    created_by_name: str
    sealed_inputs: str | None = None
    secrets: tuple[str, ...] = ()
    worker: str = ""
    started_at: datetime | None = None

    @property
    def run(self) -> RunKey:
        """This run of the job: the worker that claimed it, and when."""
        assert self.started_at is not None
        return (self.worker, self.started_at)


@dataclass(frozen=True)
class RunResult:
    """How a run ended, as the executor reports it."""

    succeeded: bool
    result: Any = None
    error: dict[str, Any] | None = None
    cancelled: bool = False


def _summary(row: Row[Any] | Job) -> dict[str, Any]:
    data = {c.key: getattr(row, c.key) for c in SUMMARY_COLUMNS}
    error = data.pop("error")
    data["error_type"] = error.get("type") if isinstance(error, dict) else None
    return data


def publish(row: Row[Any]) -> None:
    job = JobOut.model_validate(_summary(row)).model_dump(mode="json")
    bus.publish({"type": "job.updated", "job": job, "rev": job["rev"]})


def _sees_all(principal: Principal) -> bool:
    return principal.has(Role.operator)


def may_see(principal: Principal, owner_id: int | None) -> bool:
    """Operators and above see every job; everyone else sees their own."""
    return _sees_all(principal) or owner_id == principal.id


def job_not_found(job_id: int) -> NotFound:
    return NotFound(f"job {job_id} not found")


def may_approve(principal: Principal, approval: dict[str, Any]) -> bool:
    """Whether an item's approval policy names this user, by role or by name."""
    who = approval.get("approvers", {})
    if "role" in who:
        return principal.has(Role[who["role"]])
    return principal.username in who.get("users", [])


def _visible(s: Session, principal: Principal, job_id: int) -> Job:
    """A job the principal may see: their own, any (operators), or one waiting for their approval."""
    job = s.get(Job, job_id)
    if job is None:
        raise job_not_found(job_id)
    if may_see(principal, job.created_by):
        return job
    if job.state == JobState.PENDING_APPROVAL.value and job.approval and may_approve(principal, job.approval):
        return job  # an approver named by the item decides on what they can read
    raise job_not_found(job_id)


def job_out(row: Row[Any] | Job) -> JobOut:
    return JobOut.model_validate(_summary(row))


def add_event(s: Session, job_id: int, kind: str, message: str, actor: str | None = None) -> None:
    """A timeline event that is not a state change (approval decisions, priority changes, ...)."""
    _event(s.connection(), job_id, utcnow(), kind, message=message, actor=actor)


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
    if target.value in counters.FINISHED:
        values = {**values, "sealed_inputs": None}  # sensitive inputs live no longer than the job
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
        _moved(s, row, expected, target, now, message=message, actor=actor, progress=values.get("progress"))
        announce(s, row)
    return row


def _moved(
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
    _event(
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
    if target.value in counters.FINISHED:
        counters.finished(s, row.item_id, target.value, now, row.started_at)


def _insert_job(
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
    _event(
        conn,
        row.id,
        now,
        "state",
        to_state=row.state,
        actor=name,
        message=created_message or (f"retry of job {retry_of}" if retry_of else "created"),
    )
    counters.moved(s, row.item_id, row.queue, None, row.state, owner=row.created_by)
    counters.created(s, row.item_id, now)
    if state is JobState.PENDING_APPROVAL and approval is not None:
        _event(conn, row.id, now, "approval", message=f"waiting for approval: {describe_policy(approval)}")
    announce(s, row)
    return row


def _insert_import(
    s: Session,
    actor: Principal | None,
    item_id: str,
    ref: str,
    inputs: dict[str, Any],
    timeout_seconds: int,
    **extra: Any,
) -> Row[Any]:
    return _insert_job(
        s,
        actor,
        kind=KIND_IMPORT,
        item_id=item_id,
        item_version=ref,
        inputs=inputs,
        timeout_seconds=timeout_seconds,
        **extra,
    )


def _insert_run(
    s: Session,
    actor: Principal,
    runnable: catalog_service.RunnableVersion,
    inputs: dict[str, Any],
    *,
    retry_of: int | None = None,
    attempt: int = 1,
    created_message: str | None = None,
) -> Row[Any]:
    """A job for a checked version: sensitive inputs sealed, waiting for approval when the item asks for it."""
    stored, sealed = _seal_sensitive(runnable.sensitive, inputs)
    return _insert_job(
        s,
        actor,
        kind=KIND_CATALOG,
        item_id=runnable.item_id,
        item_version=runnable.version,
        bundle_sha256=runnable.bundle_sha256,
        entrypoint=runnable.entrypoint,
        source_path=runnable.dev_path,
        inputs=stored,
        timeout_seconds=runnable.timeout_seconds,
        # The network need goes with the job: the worker checks it against the item's grant at run time.
        resources={**runnable.resources, "network": runnable.network}
        if runnable.network is not None
        else runnable.resources,
        retry_of=retry_of,
        attempt=attempt,
        state=JobState.PENDING_APPROVAL if runnable.approval else JobState.QUEUED,
        approval=runnable.approval,
        sealed_inputs=sealed,
        secrets=runnable.secrets,
        queue=runnable.queue,
        priority=runnable.priority,
        created_message=created_message,
    )


def _seal_sensitive(sensitive: tuple[str, ...], inputs: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The inputs to store (sensitive values replaced by `***`) and the sensitive values, encrypted."""
    present = {name: inputs[name] for name in sensitive if name in inputs}
    if not present:
        return inputs, None
    return {**inputs, **dict.fromkeys(present, MASK)}, crypto.seal(present)


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
    pending: dict[int, Row[Any]] | None = s.info.get(_ANNOUNCE)
    if pending is None:
        pending = s.info[_ANNOUNCE] = {}
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
    return JobOut.model_validate(_summary(row))


def _check_runnable(runnable: catalog_service.RunnableVersion, inputs: dict[str, Any]) -> None:
    """Sensitive inputs given for real, inputs that match the schema, and every declared secret granted."""
    unservable = values.problems(inputs)
    if unservable:
        raise ValidationFailed("the inputs hold values that cannot be stored", details=unservable)
    masked = [name for name in runnable.sensitive if inputs.get(name) == MASK]
    if masked:
        raise ValidationFailed(
            "sensitive inputs are never stored: give them again",
            details=[{"field": name, "message": "give this value again"} for name in masked],
        )
    errors = input_errors(runnable.validator, inputs)
    if errors:
        # jsonschema quotes the value in its messages: never for a sensitive input.
        sensitive = set(runnable.sensitive)
        for error in errors:
            if error["field"].split(".")[0].split("[")[0] in sensitive:
                error["message"] = "does not match the schema (the value is not shown: the input is sensitive)"
        raise ValidationFailed(
            f"the inputs do not match the schema of {runnable.item_id} {runnable.version}", details=errors
        )
    refused = secrets_service.refusal(
        runnable.item_id,
        runnable.version,
        runnable.bundle_sha256,
        runnable.secrets,
        development=runnable.dev_path is not None,
    )
    if refused is not None:
        raise refused
    catalog_network.check(runnable.item_id, runnable.network)


def check_runnable(runnable: catalog_service.RunnableVersion, inputs: dict[str, Any]) -> None:
    """What `create_job` checks before it creates a job (ValidationFailed or Conflict), for callers that create
    jobs inside their own transaction (the scheduler)."""
    _check_runnable(runnable, inputs)


def seal_sensitive(
    runnable: catalog_service.RunnableVersion, inputs: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """Inputs as a job stores them (sensitive values `***`) and the sensitive values, encrypted."""
    return _seal_sensitive(runnable.sensitive, inputs)


def insert_job_in(
    s: Session,
    owner: Principal,
    runnable: catalog_service.RunnableVersion,
    inputs: dict[str, Any],
    *,
    created_message: str,
) -> Row[Any]:
    """A job for checked inputs, created in the caller's transaction (the scheduler's, which also records the
    tick that made it). The job reaches the browsers and the executor only once that transaction commits."""
    return _insert_run(s, owner, runnable, inputs, created_message=created_message)


def create_job(actor: Principal, item_id: str, version: str | None, inputs: dict[str, Any]) -> JobOut:
    """Validate the inputs against the version's schema and queue a job for it."""
    runnable = catalog_service.resolve_runnable(item_id, version)
    _check_runnable(runnable, inputs)
    with db.write() as s:
        row = _insert_run(s, actor, runnable, inputs)
        audit.record(
            s,
            actor,
            "job.create",
            target_type="job",
            target_id=row.id,
            details={"item_id": runnable.item_id, "version": runnable.version},
        )
    return changed(row)


def create_import_job(
    actor: Principal | None,
    *,
    item_id: str,
    ref: str,
    inputs: dict[str, Any],
    timeout_seconds: int,
    actor_name: str | None = None,
    audit_details: dict[str, Any] | None = None,
) -> JobOut:
    """Queue a catalog import (kind `catalog_import`): it shows in the jobs list with its progress steps."""
    with db.write() as s:
        row = _insert_import(s, actor, item_id, ref, inputs, timeout_seconds, actor_name=actor_name)
        audit.record(
            s,
            actor,
            "catalog.import_requested",
            target_type="job",
            target_id=row.id,
            details={**inputs, **(audit_details or {})},
            actor_name=actor_name,
        )
    return changed(row)


def retry_job(actor: Principal, job_id: int, inputs: dict[str, Any] | None = None) -> JobOut:
    """A new job for the same item version, linked to the old one (which stays as it was).

    It reuses the old inputs, or `inputs` when given (checked like new ones). Sensitive inputs were never
    stored, so a job that had them needs them given again.
    """
    with db.read() as s:
        old = _visible(s, actor, job_id)
        state, item_id, version, stored_inputs, attempt = (
            old.state,
            old.item_id,
            old.item_version,
            old.inputs,
            old.attempt,
        )
        kind, timeout_seconds = old.kind, old.timeout_seconds
    if JobState(state) not in RETRYABLE:
        raise Conflict(
            f"job {job_id} is {state}; only failed or cancelled jobs can be retried", details={"state": state}
        )
    if kind == KIND_IMPORT:
        if not actor.has(Role.publisher):
            raise Forbidden("retrying an import needs the publisher role")
        with db.write() as s:
            row = _insert_import(
                s, actor, item_id, version, stored_inputs, timeout_seconds, retry_of=job_id, attempt=attempt + 1
            )
            audit.record(s, actor, "job.retry", target_type="job", target_id=job_id, details={"new_job_id": row.id})
        return changed(row)
    runnable = catalog_service.resolve_runnable(item_id, version)
    edited = inputs is not None
    inputs = stored_inputs if inputs is None else inputs
    _check_runnable(runnable, inputs)
    with db.write() as s:
        row = _insert_run(s, actor, runnable, inputs, retry_of=job_id, attempt=attempt + 1)
        audit.record(
            s,
            actor,
            "job.retry",
            target_type="job",
            target_id=job_id,
            details={"new_job_id": row.id, "edited_inputs": edited},
        )
    return changed(row)


def cancel_job(actor: Principal, job_id: int) -> JobOut:
    """Cancel at once when waiting; when running, flag it and have the executor kill the child's process group."""
    row: Row[Any] | None
    with db.write() as s:
        job = _visible(s, actor, job_id)
        state = JobState(job.state)
        if state not in CANCELLABLE:
            raise Conflict(f"job {job_id} is {state.value} and cannot be cancelled", details={"state": state.value})
        if state is JobState.RUNNING and job.cancel_requested:
            # Asked already: the kill is under way. Asking again changes nothing and records nothing, so
            # repeated cancels cannot grow the job's timeline or the audit trail; the kill is sent again.
            db.after_commit(s, partial(executors.current().cancel, job_id, running=True))
            return job_out(job)
        if state is JobState.RUNNING:
            now = utcnow()
            row = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == JobState.RUNNING.value, Job.cancel_requested.is_(False))
                .values(cancel_requested=True, rev=Job.rev + 1, updated_at=now, message="cancelling")
                .returning(*SUMMARY_COLUMNS)
            ).first()
            if row is None:  # it ended, was re-queued or was cancelled by someone else since it was read
                raise Conflict(f"job {job_id} changed state, try again")
            _event(
                s.connection(),
                job_id,
                now,
                "cancel",
                actor=actor.username,
                message=f"cancel requested by {actor.username}",
            )
            announce(s, row)
        else:
            row = transition(
                s,
                job_id,
                state,
                JobState.CANCELLED,
                {"finished_at": utcnow(), "message": f"cancelled by {actor.username}"},
                message=f"cancelled by {actor.username}",
                actor=actor.username,
            )
            if row is None:  # pragma: no cover - the write lock makes this impossible on SQLite
                raise Conflict(f"job {job_id} changed state, try again")
        audit.record(s, actor, "job.cancel", target_type="job", target_id=job_id, details={"state": state.value})
        db.after_commit(s, partial(executors.current().cancel, job_id, running=state is JobState.RUNNING))
    return JobOut.model_validate(_summary(row))


def get_job(actor: Principal, job_id: int) -> JobDetail:
    with db.read() as s:
        job = _visible(s, actor, job_id)
        newest = select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id.desc()).limit(DETAIL_EVENTS)
        events = list(reversed(s.scalars(newest).all()))
        events_total = len(events)
        if events_total == DETAIL_EVENTS:
            events_total = s.scalar(select(func.count()).where(JobEvent.job_id == job_id)) or 0
        retries = list(s.scalars(select(Job.id).where(Job.retry_of == job_id).order_by(Job.id)))
        approval = None
        if job.approval is not None:
            decisions = s.scalars(select(JobApproval).where(JobApproval.job_id == job_id).order_by(JobApproval.id))
            approval = ApprovalInfo(
                **job.approval,
                deadline=job.approval_deadline,
                decisions=[ApprovalOut.model_validate(d) for d in decisions],
            )
    return JobDetail.model_validate(
        {
            **_summary(job),
            "bundle_sha256": job.bundle_sha256,
            "inputs": job.inputs,
            "masked_inputs": [name for name, value in (job.inputs or {}).items() if value == MASK],
            "result": job.result,
            "error": job.error,
            "timeout_seconds": job.timeout_seconds,
            "events": [JobEventOut.model_validate(e) for e in events],
            "events_total": events_total,
            "retries": retries,
            "approval": approval,
            "secrets": list(job.secrets or []),
        }
    )


def get_logs(actor: Principal, job_id: int, after: int = 0, limit: int = 500) -> LogPage:
    with db.read() as s:
        _visible(s, actor, job_id)
        rows = list(
            s.scalars(select(JobLog).where(JobLog.job_id == job_id, JobLog.id > after).order_by(JobLog.id).limit(limit))
        )
    return LogPage(
        items=[LogLine.model_validate(r) for r in rows], next_after=rows[-1].id if len(rows) == limit else None
    )


def get_events(actor: Principal, job_id: int, after: int = 0, limit: int = 200) -> EventPage:
    """A page of a job's timeline, oldest first, from the event after `after`."""
    with db.read() as s:
        _visible(s, actor, job_id)
        query = select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.id > after).order_by(JobEvent.id)
        rows = list(s.scalars(query.limit(limit)))
    return EventPage(
        items=[JobEventOut.model_validate(r) for r in rows], next_after=rows[-1].id if len(rows) == limit else None
    )


def visible_owner(actor: Principal, job_id: int) -> int | None:
    """The owner of a job the actor may see (raises NotFound otherwise)."""
    with db.read() as s:
        return _visible(s, actor, job_id).created_by


def list_jobs(
    actor: Principal,
    *,
    states: list[JobState] | None = None,
    item_id: str | None = None,
    q: str | None = None,
    page: int = 1,
    page_size: int = 50,
    sort: str = "-id",
) -> JobPage:
    """Filter and search first, then count and page: `total` is the true number of matches."""
    conditions: list[Any] = []
    owner = None if _sees_all(actor) else actor.id
    if owner is not None:
        conditions.append(Job.created_by == owner)
    state_values = [state.value for state in states] if states else None
    if state_values:
        conditions.append(Job.state.in_(state_values))
    if item_id:
        conditions.append(Job.item_id == item_id)
    descending = sort.startswith("-")
    column = SORTABLE[sort.lstrip("-")]
    search: dict[str, Any] = {}
    with db.read() as s:
        if q:
            term = q.strip()
            matches: list[Any] = []
            if term.isdigit():
                matches.append(Job.id == int(term))
                search["search_id"] = int(term)
            item_ids = catalog_service.item_ids_matching(s, term)
            if item_ids:
                matches.append(Job.item_id.in_(item_ids))
                search["search_items"] = item_ids
            user_ids = auth_service.user_ids_matching(s, term)
            if user_ids:
                matches.append(Job.created_by.in_(user_ids))
                search["search_owners"] = user_ids
            if not matches:
                return JobPage(items=[], total=0, page=page, page_size=page_size)
            conditions.append(or_(*matches))
        # The total comes from the job counters, kept with every state change: exact, and independent of how many
        # jobs match (counting a million rows takes PostgreSQL over 100 ms).
        total = counters.count_jobs(s.connection(), states=state_values, item_id=item_id, owner=owner, **search)
        order: list[Any] = [column.desc() if descending else column.asc()]
        if column is not Job.id:
            order.append(Job.id.desc() if descending else Job.id.asc())
        # Page over ids alone first (an index answers that without reading rows), then read the page's rows:
        # deep pages cost a walk along an index, not a read of every skipped job.
        page_ids = select(Job.id).where(*conditions).order_by(*order).offset((page - 1) * page_size).limit(page_size)
        rows = s.execute(select(*SUMMARY_COLUMNS).where(Job.id.in_(page_ids)).order_by(*order)).all()
    return JobPage(
        items=[JobOut.model_validate(_summary(r)) for r in rows], total=total, page=page, page_size=page_size
    )


# --- the executor's side -------------------------------------------------------------------------------------


def _claim(s: Session, worker_id: str, now: Any, job_id: int | None = None) -> tuple[Row[Any], ClaimedJob] | None:
    check_edge(JobState.QUEUED, JobState.RUNNING)
    conn = s.connection()
    if job_id is None:
        row = conn.execute(_CLAIM, {"now": now, "worker": worker_id}).first()
    else:
        row = conn.execute(_CLAIM_ONE, {"now": now, "worker": worker_id, "job_id": job_id}).first()
    if row is None:
        return None
    _moved(s, row, JobState.QUEUED, JobState.RUNNING, now, message=f"started on {worker_id}")
    announce(s, row)
    return row, ClaimedJob(
        id=row.id,
        kind=row.kind,
        item_id=row.item_id,
        item_version=row.item_version,
        bundle_sha256=row.bundle_sha256,
        source_path=row.source_path,
        entrypoint=row.entrypoint,
        inputs=row.inputs,
        timeout_seconds=row.timeout_seconds,
        resources=row.resources,
        created_by=row.created_by,
        created_by_name=row.created_by_name,
        sealed_inputs=row.sealed_inputs,
        secrets=tuple(row.secrets or ()),
        worker=worker_id,
        started_at=row.started_at,
    )


def claim_next(worker_id: str) -> ClaimedJob | None:
    """Atomically take the oldest highest-priority queued job for this worker (QUEUED -> RUNNING)."""
    with db.write() as s:
        claimed = _claim(s, worker_id, utcnow())
    return claimed[1] if claimed is not None else None


def report_progress(job_id: int, run: RunKey, percent: int, message: str, *, step: bool = False) -> None:
    """A running job's progress, from the run that holds it. A `step` (one of the few named stages of the
    portal's own jobs, such as a Git import's) is stored as an event of kind `step`, never sampled away."""
    now = utcnow()
    with db.write() as s:
        conn = s.connection()
        row = conn.execute(
            _PROGRESS,
            {
                "job_id": job_id,
                "held_by": run[0],
                "held_since": run[1],
                "progress": percent,
                "message": message,
                "now": now,
            },
        ).first()
        if row is None:
            return
        if step:
            _event(conn, job_id, now, "step", progress=percent, message=message)
        else:
            history.store_progress(conn, job_id, now, run[1], percent, message)
        announce(s, row)


def append_logs(job_id: int, run: RunKey, owner: int | None, lines: list[dict[str, str]]) -> None:
    """Store a batch of log lines of the run that holds the job, and stream them to the job's watchers."""
    now = utcnow()
    with db.write() as s:
        conn = s.connection()
        held = conn.execute(
            select(jobs_t.c.id)
            .where(
                jobs_t.c.id == job_id,
                jobs_t.c.state == JobState.RUNNING.value,
                jobs_t.c.worker == run[0],
                jobs_t.c.started_at == run[1],
            )
            .with_for_update()
        ).first()
        if held is None:
            return  # a lost run's lines (it is stopped within a second) do not mix into the job's new run
        conn.execute(
            _INSERT_LOG,
            [{"job_id": job_id, "at": now, "stream": line["stream"], "line": line["line"]} for line in lines],
        )
        # One runner writes a job's logs, so its newest ids are this batch: clients use them to join the stream
        # with what they fetched from /logs without gaps or repeats.
        ids = conn.scalars(
            select(logs_t.c.id).where(logs_t.c.job_id == job_id).order_by(logs_t.c.id.desc()).limit(len(lines))
        ).all()
    numbered = [{**line, "id": line_id} for line, line_id in zip(lines, reversed(ids), strict=True)]
    bus.publish({"type": "job.log", "job_id": job_id, "created_by": owner, "lines": numbered, "at": now.isoformat()})


def finish(job_id: int, run: RunKey, outcome: RunResult, *, claim_next: bool = False) -> ClaimedJob | None:
    """Record how a run of a job ended (RUNNING -> SUCCEEDED | FAILED | CANCELLED); nothing when that run no
    longer holds the job (the reaper took it meanwhile).

    With `claim_next`, the same transaction also claims that worker's next job, which it returns: a busy
    worker pays one write transaction per job instead of two.
    """
    now = utcnow()
    ended: Row[Any] | None = None
    claimed = None
    with db.write() as s:
        # A run that succeeded is recorded as such even if a cancel came too late; only other ends read the flag.
        cancel_requested = not outcome.succeeded and s.scalar(select(Job.cancel_requested).where(Job.id == job_id))
        if outcome.succeeded:
            target, values, message = (
                JobState.SUCCEEDED,
                {"result": outcome.result, "progress": 100, "message": "succeeded"},
                "succeeded",
            )
        elif outcome.cancelled or cancel_requested:
            target, values, message = JobState.CANCELLED, {"message": "cancelled"}, "cancelled; the task was stopped"
        else:
            error = outcome.error or {"type": "Error", "message": "unknown failure"}
            target = JobState.FAILED
            message = f"{error.get('type')}: {error.get('message')}"[:1000]
            values = {"error": error, "message": message}
        row = transition(
            s, job_id, JobState.RUNNING, target, {**values, "finished_at": now}, message=message, held_by=run
        )
        if row is not None:
            ended = row
        if claim_next:
            next_job = _claim(s, run[0], now)
            if next_job is not None:
                claimed = next_job[1]
    if ended is not None:
        _observe_end(ended)
    return claimed


def _observe_end(row: Row[Any]) -> None:
    """A job's end in the metrics: its run time, and whether the machinery (not the task) failed it."""
    seconds = (row.finished_at - row.started_at).total_seconds() if row.started_at and row.finished_at else None
    error = row.error if isinstance(row.error, dict) else {}
    instruments.job_finished(row.item_id, row.state, seconds, error.get("type"))


MAX_REQUEUES = 3


def fail_running(
    message: str,
    error_type: str,
    *,
    workers: list[str] | None = None,
    exclude: set[int] | None = None,
    started_before: datetime | None = None,
    requeue_idempotent: bool = False,
) -> list[int]:
    """Fail RUNNING jobs (of the given workers, or all) whose runner is gone; returns their ids.

    With `requeue_idempotent`, a job whose item declares `idempotent: true` goes back to QUEUED instead (at most
    MAX_REQUEUES times) and is handed to the executor again.
    """
    with db.read() as s:
        query = select(
            Job.id, Job.item_id, Job.item_version, Job.kind, Job.worker, Job.started_at, Job.cancel_requested
        ).where(Job.state == JobState.RUNNING.value)
        if workers is not None:
            query = query.where(Job.worker.in_(workers))
        if started_before is not None:
            query = query.where(Job.started_at < started_before)
        found = [r for r in s.execute(query) if not exclude or r.id not in exclude]
    failed = []
    for job in found:
        requeue = (
            requeue_idempotent
            and not job.cancel_requested
            and job.kind == KIND_CATALOG
            and catalog_service.is_idempotent(job.item_id, job.item_version)
        )
        with db.write() as s:
            # Every transition is guarded by the worker that held the job: reapers on several nodes see the same
            # lost worker, and the second must not touch a job the first re-queued and another worker runs now.
            run: RunKey | None = (job.worker, job.started_at) if job.worker and job.started_at else None
            row = _requeue(s, job.id, run, message) if requeue else None
            if row is None and job.cancel_requested:
                row = transition(
                    s,
                    job.id,
                    JobState.RUNNING,
                    JobState.CANCELLED,
                    {"finished_at": utcnow(), "message": f"cancelled; {message}"},
                    message=f"cancelled; {message}",
                    actor="reaper",
                    held_by=run,
                )
            elif row is None:
                row = transition(
                    s,
                    job.id,
                    JobState.RUNNING,
                    JobState.FAILED,
                    {"finished_at": utcnow(), "message": message, "error": {"type": error_type, "message": message}},
                    message=message,
                    actor="reaper",
                    held_by=run,
                )
        if row is None:
            continue
        if row.state != JobState.QUEUED.value:
            _observe_end(row)
        failed.append(job.id)
    return failed


def _requeue(s: Session, job_id: int, run: RunKey | None, reason: str) -> Row[Any] | None:
    """RUNNING -> QUEUED for a job whose worker was lost, unless it was re-queued MAX_REQUEUES times already."""
    done = s.scalar(
        select(func.count()).select_from(events_t).where(events_t.c.job_id == job_id, events_t.c.kind == "requeue")
    )
    if (done or 0) >= MAX_REQUEUES:
        return None
    now = utcnow()
    row = transition(
        s,
        job_id,
        JobState.RUNNING,
        JobState.QUEUED,
        {"queued_at": now, "started_at": None, "worker": None, "progress": 0, "message": f"re-queued: {reason}"},
        message=f"re-queued: {reason}",
        actor="reaper",
        held_by=run,
    )
    if row is not None and row.cancel_requested:
        # A cancel came after the reaper read the job: it wins, in this same transaction (no worker can claim
        # the job in between).
        return transition(
            s,
            job_id,
            JobState.QUEUED,
            JobState.CANCELLED,
            {"finished_at": now, "message": "cancelled"},
            message="cancelled; its worker was lost",
            actor="reaper",
        )
    if row is not None:
        _event(
            s.connection(),
            job_id,
            now,
            "requeue",
            message=f"re-queued ({(done or 0) + 1} of {MAX_REQUEUES}): the item is idempotent",
        )
    return row


def claim(job_id: int, worker_id: str) -> ClaimedJob | None:
    """Atomically take one queued job by id (QUEUED -> RUNNING); None when it is not queued any more.

    The distributed executor calls this for each broker message: a redelivered or duplicate message finds the
    job RUNNING or finished and does nothing, so a job never runs twice.
    """
    with db.write() as s:
        claimed = _claim(s, worker_id, utcnow(), job_id)
    return claimed[1] if claimed is not None else None


def to_stop_among(runs: dict[int, RunKey]) -> list[int]:
    """Which of these runs (job id: the run's worker and claim time) should stop: asked to stop (the database
    flag is the source of truth), or no longer holding their job (reaped while the worker could not reach the
    database, and perhaps claimed again since)."""
    if not runs:
        return []
    with db.read() as s:
        rows = s.execute(
            select(Job.id, Job.state, Job.worker, Job.started_at, Job.cancel_requested).where(Job.id.in_(list(runs)))
        ).all()
    return [
        r.id
        for r in rows
        if r.cancel_requested or r.state != JobState.RUNNING.value or (r.worker, r.started_at) != runs[r.id]
    ]


def queued_ids(limit: int = 1) -> list[int]:
    with db.read() as s:
        return list(s.scalars(select(Job.id).where(Job.state == JobState.QUEUED.value).limit(limit)))
