"""The job service: what users do with jobs (create, retry, cancel, read, list) and who may see which.

Every change of a job row goes through `jobs.writer` (conditional updates checked against the state graph, a
timeline event, announced after the commit); user actions add their audit entry in the same transaction. The
executor's side (claims, progress, the end of a run, the reaper) is `jobs.runs`.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Row, func, literal, or_, select, update
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.auth import service as auth_service
from portal.catalog import queries as catalog_queries
from portal.catalog import storage as catalog_storage
from portal.db import group_commit
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict, Forbidden, NotFound
from portal.identity.principal import Principal
from portal.identity.roles import Role
from portal.jobs import counters, executors, kinds, submission
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
from portal.jobs.states import CANCELLABLE, RETRYABLE, JobState
from portal.jobs.writer import (
    SUMMARY_COLUMNS,
    announce,
    changed,
    job_out,
    summary,
    transition,
    write_event,
)
from portal.secrets.masking import masked_names
from portal.values import MAX_ID

MAX_PAGE_SIZE = 1000
SORTABLE = {
    "id": Job.id,
    "created_at": Job.id,
    "updated_at": Job.updated_at,
    "state": Job.state,
    "item_id": Job.item_id,
    "progress": Job.progress,
}


# The newest events a job's detail holds; the rest of its timeline is paged (`get_events`).
DETAIL_EVENTS = 100


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


def create_job(actor: Principal, item_id: str, version: str | None, inputs: dict[str, Any]) -> JobOut:
    """Validate the inputs against the version's schema and queue a job for it."""
    runnable = catalog_queries.resolve_runnable(item_id, version)
    submission.check_runnable(runnable, inputs)
    submission.validate_at_launch(runnable, inputs)

    def insert(s: Session) -> Row[Any]:
        row = submission.insert_run(s, actor, runnable, inputs)
        details = {"item_id": runnable.item_id, "version": runnable.version}
        audit.record(s, actor, "job.create", target_type="job", target_id=row.id, details=details)
        return row

    # Launches arriving together share one transaction (a CI pipeline or a bulk launch sends many at once).
    return changed(group_commit.write_grouped(insert))


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
        row = submission.insert_import(s, actor, item_id, ref, inputs, timeout_seconds, actor_name=actor_name)
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
    if kind in (kinds.TEST, kinds.DRY_RUN):
        raise Conflict(
            f"job {job_id} is a {kind} job: run the version's tests or dry run again from its admin page",
            details={"kind": kind},
        )
    if kind == kinds.SOURCE_REFRESH:
        raise Conflict(
            f"job {job_id} is a source refresh: refresh the source again (POST /api/admin/sources/{item_id}/refresh)",
            details={"kind": kind},
        )
    if kind == kinds.CATALOG_IMPORT:
        if not actor.has(Role.publisher):
            raise Forbidden("retrying an import needs the publisher role")
        with db.write() as s:
            row = submission.insert_import(
                s, actor, item_id, version, stored_inputs, timeout_seconds, retry_of=job_id, attempt=attempt + 1
            )
            audit.record(s, actor, "job.retry", target_type="job", target_id=job_id, details={"new_job_id": row.id})
        return changed(row)
    runnable = catalog_queries.resolve_runnable(item_id, version)
    edited = inputs is not None
    inputs = stored_inputs if inputs is None else inputs
    submission.check_runnable(runnable, inputs)
    submission.validate_at_launch(runnable, inputs)
    with db.write() as s:
        row = submission.insert_run(s, actor, runnable, inputs, retry_of=job_id, attempt=attempt + 1)
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
            write_event(
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
    return JobOut.model_validate(summary(row))


def bundle_of(actor: Principal, job_id: int) -> tuple[Path | bytes, str]:
    """The bundle a job ran, as it ran it (kept when its version is archived and purged), and a download name."""
    with db.read() as s:
        job = _visible(s, actor, job_id)
        sha256, item_id, version = job.bundle_sha256, job.item_id, job.item_version
    if not sha256:
        raise NotFound(f"job {job_id} ran no bundle (a development version or an import)", details={"job_id": job_id})
    content = catalog_storage.bundle_content(sha256, f"job {job_id}")
    return content, f"{item_id}@{version}-job-{job_id}.tar.gz"


def get_job(actor: Principal, job_id: int) -> JobDetail:
    with db.read() as s:
        job = _visible(s, actor, job_id)
        newest = select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id.desc()).limit(DETAIL_EVENTS)
        events = list(reversed(s.scalars(newest).all()))
        events_total = len(events)
        if events_total == DETAIL_EVENTS:
            events_total = s.scalar(select(func.count()).where(JobEvent.job_id == job_id)) or 0
        mine = [] if _sees_all(actor) else [Job.created_by == actor.id]  # only the retries the viewer may open
        retries = list(s.scalars(select(Job.id).where(Job.retry_of == job_id, *mine).order_by(Job.id)))
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
            **summary(job),
            "bundle_sha256": job.bundle_sha256,
            "inputs": job.inputs,
            "masked_inputs": masked_names(job.inputs),
            "result": job.result,
            "error": job.error,
            "timeout_seconds": job.timeout_seconds,
            "events": [JobEventOut.model_validate(e) for e in events],
            "events_total": events_total,
            "retries": retries,
            "retried_as": retries[-1] if retries else None,
            "approval": approval,
            "secrets": list(job.secrets or []),
            "pruned_at": job.pruned_at,
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


def _count_by_kind(s: Session, conditions: list[Any], wanted: set[str], unwanted: list[str], total: int) -> int:
    """The list's count with a kind filter: runs of items are counted by the counters (`total`, every kind) less
    the other jobs not wanted; without runs, the other jobs wanted. Either reads only the index of other jobs."""
    other = _OTHER_KINDS
    if kinds.TASK in wanted:  # less every other job not wanted, of any kind (one registered later included)
        left_out = Job.kind.not_in(sorted(wanted))
        return total - int(s.scalar(select(func.count()).where(other, left_out, *conditions)) or 0)
    return int(s.scalar(select(func.count()).where(other, Job.kind.in_(sorted(wanted)), *conditions)) or 0)


# The partial index's condition, rendered as it is written there, so that the planners use that index.
_OTHER_KINDS = Job.kind != literal(kinds.TASK, literal_execute=True)


def list_jobs(
    actor: Principal,
    *,
    states: list[JobState] | None = None,
    job_kinds: list[str] | None = None,
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
    # Every kind at once is no filter; else what the counters cannot tell apart is counted from the few other jobs.
    wanted = set(job_kinds or kinds.LISTED)
    unwanted = [kind for kind in kinds.LISTED if kind not in wanted]
    descending = sort.startswith("-")
    column = SORTABLE[sort.lstrip("-")]
    search: dict[str, Any] = {}
    with db.read() as s:
        if q:
            term = q.strip()
            matches: list[Any] = []
            if term.isascii() and term.isdigit() and int(term) <= MAX_ID:  # "²" is a digit to isdigit()
                matches.append(Job.id == int(term))
                search["search_id"] = int(term)
            item_ids = catalog_queries.item_ids_matching(s, term)
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
        if unwanted:
            total = _count_by_kind(s, conditions, wanted, unwanted, total)
            conditions.append(Job.kind.in_(sorted(wanted)))
            if kinds.TASK not in wanted:
                conditions.append(_OTHER_KINDS)  # the page walks the small index of other jobs, not every job
        order: list[Any] = [column.desc() if descending else column.asc()]
        if column is not Job.id:
            order.append(Job.id.desc() if descending else Job.id.asc())
        # Page over ids alone first (an index answers that without reading rows), then read the page's rows:
        # deep pages cost a walk along an index, not a read of every skipped job.
        page_ids = select(Job.id).where(*conditions).order_by(*order).offset((page - 1) * page_size).limit(page_size)
        rows = s.execute(select(*SUMMARY_COLUMNS).where(Job.id.in_(page_ids)).order_by(*order)).all()
        retried = select(Job.retry_of, func.max(Job.id)).where(Job.retry_of.in_([r.id for r in rows]))
        if owner is not None:  # only the retries the viewer may open
            retried = retried.where(Job.created_by == owner)
        retried_as = dict(s.execute(retried.group_by(Job.retry_of)).all())
    items = [JobOut.model_validate({**summary(r), "retried_as": retried_as.get(r.id)}) for r in rows]
    return JobPage(items=items, total=total, page=page, page_size=page_size)
