"""Approvals and the operators' job control: approve, reject, force-run, bulk actions, expired approvals.

Every state change goes through the job service's one transition function, with a timeline event and an
audit entry in the same transaction.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import Row, func, select, update
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict, Forbidden, PortalError, ValidationFailed
from portal.identity.principal import Principal
from portal.identity.roles import Role
from portal.jobs import queries, service, writer
from portal.jobs.models import Job, JobApproval
from portal.jobs.schemas import ApprovalOut, BulkFilter, BulkRequest, BulkResponse, BulkResult, JobOut
from portal.jobs.states import CANCELLABLE, RETRYABLE, JobState

log = logging.getLogger(__name__)
FRONT_OF_QUEUE = 1_000_000
BulkAction = Literal["retry", "cancel", "run"]


def decisions(s: Session, job_id: int) -> list[ApprovalOut]:
    rows = s.scalars(select(JobApproval).where(JobApproval.job_id == job_id).order_by(JobApproval.id))
    return [ApprovalOut.model_validate(r) for r in rows]


def _pending(s: Session, actor: Principal, job_id: int) -> Job:
    """The job, locked for this transaction (two approvers at once must not both stop short of the count)."""
    job = s.get(Job, job_id, with_for_update=True)
    if job is None or not (
        queries.may_see(actor, job.created_by) or (job.approval and queries.may_approve(actor, job.approval))
    ):
        raise queries.job_not_found(job_id)
    if job.state != JobState.PENDING_APPROVAL.value or job.approval is None:
        raise Conflict(f"job {job_id} is {job.state}, not waiting for approval", details={"state": job.state})
    if not queries.may_approve(actor, job.approval):
        raise Forbidden(f"you are not an approver of job {job_id} ({writer.describe_policy(job.approval)})")
    if job.created_by == actor.id:
        raise Forbidden("nobody may approve or reject their own job")
    if s.scalar(select(JobApproval.id).where(JobApproval.job_id == job_id, JobApproval.user_id == actor.id)):
        raise Conflict(f"you have already decided on job {job_id}", details={"state": job.state})
    return job


def _decide(s: Session, actor: Principal, job_id: int, decision: str, comment: str) -> None:
    s.add(JobApproval(job_id=job_id, user_id=actor.id, username=actor.username, decision=decision, comment=comment))
    s.flush()
    said = f": {comment}" if comment else ""
    writer.add_event(s, job_id, "approval", f"{decision} by {actor.username}{said}", actor=actor.username)


def approve(actor: Principal, job_id: int, comment: str) -> JobOut:
    """Record an approval; the last one needed queues the job."""
    row: Row[Any] | None = None
    with db.write() as s:
        job = _pending(s, actor, job_id)
        _decide(s, actor, job_id, "approved", comment)
        count = s.scalar(
            select(func.count())
            .select_from(JobApproval)
            .where(JobApproval.job_id == job_id, JobApproval.decision == "approved")
        )
        needed = int(job.approval["count"]) if job.approval else 1
        if (count or 0) >= needed:
            names = ", ".join(a.username for a in decisions(s, job_id) if a.decision == "approved")
            row = writer.transition(
                s,
                job_id,
                JobState.PENDING_APPROVAL,
                JobState.QUEUED,
                {"queued_at": utcnow(), "message": f"approved by {names}"},
                message=f"approved by {names}",
                actor=actor.username,
            )
        else:
            row = writer.touch(s, job_id, f"approved by {actor.username}; {count} of {needed}")
        if row is None:  # pragma: no cover - the row lock makes this impossible
            raise Conflict(f"job {job_id} changed state meanwhile; try again")
        audit.record(s, actor, "job.approve", target_type="job", target_id=job_id, details={"comment": comment})
    return writer.changed(row)


def reject(actor: Principal, job_id: int, comment: str) -> JobOut:
    """One rejection cancels the job, with the reason."""
    with db.write() as s:
        _pending(s, actor, job_id)
        _decide(s, actor, job_id, "rejected", comment)
        reason = f"rejected by {actor.username}" + (f": {comment}" if comment else "")
        row = writer.transition(
            s,
            job_id,
            JobState.PENDING_APPROVAL,
            JobState.CANCELLED,
            {"finished_at": utcnow(), "message": reason, "error": {"type": "Rejected", "message": reason}},
            message=reason,
            actor=actor.username,
        )
        if row is None:  # pragma: no cover - the row lock makes this impossible
            raise Conflict(f"job {job_id} changed state meanwhile; try again")
        audit.record(s, actor, "job.reject", target_type="job", target_id=job_id, details={"comment": comment})
    return writer.changed(row)


def waiting_for(actor: Principal, limit: int = 200, chunk: int = 500) -> list[JobOut]:
    """Jobs waiting for approval that this user may approve and has not decided on (never their own).

    The policy is JSON, so it is checked here, a chunk of pending jobs at a time, until `limit` are found.
    """
    found: list[JobOut] = []
    after = 0
    with db.read() as s:
        decided = select(JobApproval.job_id).where(JobApproval.user_id == actor.id)
        while len(found) < limit:
            rows = s.execute(
                select(*writer.SUMMARY_COLUMNS, Job.approval)
                .where(Job.state == JobState.PENDING_APPROVAL.value, Job.id > after, Job.id.not_in(decided))
                .where((Job.created_by != actor.id) | Job.created_by.is_(None))
                .order_by(Job.id)
                .limit(chunk)
            ).all()
            found.extend(
                writer.job_out(r) for r in rows if r.approval is not None and queries.may_approve(actor, r.approval)
            )
            if len(rows) < chunk:
                break
            after = rows[-1].id
    return found[:limit]


def expire_approvals() -> list[int]:
    """Cancel the jobs whose approval deadline passed; returns their ids."""
    now = utcnow()
    with db.read() as s:
        due = list(
            s.execute(
                select(Job.id, Job.approval).where(
                    Job.state == JobState.PENDING_APPROVAL.value, Job.approval_deadline < now
                )
            )
        )
    expired = []
    for job_id, approval in due:
        waited = timedelta(seconds=int((approval or {}).get("timeout", 0)))
        reason = f"approval timed out after {waited}"
        with db.write() as s:
            row = writer.transition(
                s,
                job_id,
                JobState.PENDING_APPROVAL,
                JobState.CANCELLED,
                {"finished_at": now, "message": reason, "error": {"type": "ApprovalTimeout", "message": reason}},
                message=reason,
                actor="system",
            )
            if row is not None:
                audit.record(s, None, "job.approval_timeout", target_type="job", target_id=job_id, actor_name="system")
        if row is not None:
            expired.append(job_id)
    return expired


def force_run(actor: Principal, job_id: int) -> JobOut:
    """A queued job goes to the front of the queue; a job waiting for approval is started by an admin."""
    with db.write() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise queries.job_not_found(job_id)
        state = JobState(job.state)
        if state is JobState.QUEUED:
            moved_row = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == JobState.QUEUED.value)
                .values(priority=FRONT_OF_QUEUE, rev=Job.rev + 1, updated_at=utcnow())
                .returning(*writer.SUMMARY_COLUMNS)
            ).first()
            if moved_row is None:  # a worker claimed it meanwhile
                raise Conflict(f"job {job_id} started meanwhile", details={"state": JobState.RUNNING.value})
            writer.announce(s, moved_row)  # queued: the executor sends it again, at the front
            row = moved_row
            writer.add_event(
                s, job_id, "priority", f"moved to the front of the queue by {actor.username}", actor.username
            )
        elif state is JobState.PENDING_APPROVAL:
            if not actor.has(Role.admin):
                raise Forbidden("starting a job without its approvals needs the admin role")
            message = f"started by admin {actor.username} without approval"
            transitioned = writer.transition(
                s,
                job_id,
                JobState.PENDING_APPROVAL,
                JobState.QUEUED,
                {"queued_at": utcnow(), "priority": FRONT_OF_QUEUE, "message": message},
                message=message,
                actor=actor.username,
            )
            if transitioned is None:  # pragma: no cover - the write lock makes this impossible on SQLite
                raise Conflict(f"job {job_id} changed state, try again")
            row = transitioned
        else:
            raise Conflict(
                f"job {job_id} is {state.value}; only queued or pending jobs can be forced to run",
                details={"state": state.value},
            )
        audit.record(s, actor, "job.force_run", target_type="job", target_id=job_id, details={"state": state.value})
    return writer.changed(row)


def _one(actor: Principal, action: BulkAction, job_id: int) -> BulkResult:
    try:
        if action == "retry":
            created = service.retry_job(actor, job_id)
            return BulkResult(id=job_id, ok=True, state=created.state.value, new_job_id=created.id)
        job = service.cancel_job(actor, job_id) if action == "cancel" else force_run(actor, job_id)
        return BulkResult(id=job_id, ok=True, state=job.state.value)
    except PortalError as exc:
        state = exc.details.get("state") if isinstance(exc.details, dict) else None
        return BulkResult(id=job_id, ok=False, state=state, error=exc.code, message=exc.message)
    except Exception:  # one job's unexpected failure must not stop the others
        log.exception("bulk %s of job %s failed", action, job_id)
        return BulkResult(id=job_id, ok=False, error="internal_error", message="an unexpected error occurred")


ELIGIBLE: dict[str, frozenset[JobState]] = {
    "retry": RETRYABLE,
    "cancel": CANCELLABLE,
    "run": frozenset({JobState.QUEUED, JobState.PENDING_APPROVAL}),
}


def _filtered_ids(actor: Principal, action: BulkAction, limit: int, where: BulkFilter) -> list[int]:
    """The ids a filter selects for `action` (only jobs in a state it applies to); 422 when over `limit`."""
    wanted = [st for st in (where.state or list(ELIGIBLE[action])) if st in ELIGIBLE[action]]
    if not wanted:
        return []
    page = queries.list_jobs(actor, states=wanted, item_id=where.item_id, q=where.q, page=1, page_size=limit, sort="id")
    if page.total > limit:
        raise ValidationFailed(
            f"the filter selects {page.total} jobs; one call may touch at most {limit}",
            details=[{"field": "filter", "message": f"selects {page.total} jobs, more than {limit}"}],
        )
    return [job.id for job in page.items]


def bulk(actor: Principal, request: BulkRequest, limit: int) -> BulkResponse:
    """Apply the action to each job (by ids or a filter, at most `limit`) in turn; each one succeeds or fails on
    its own, with its reason."""
    if request.ids is not None:
        ids = list(dict.fromkeys(request.ids))
        if len(ids) > limit:
            raise ValidationFailed(
                f"one call may touch at most {limit} jobs",
                details=[{"field": "ids", "message": f"{len(ids)} ids, more than {limit}"}],
            )
    else:
        assert request.filter is not None  # the request model requires one of the two
        ids = _filtered_ids(actor, request.action, limit, request.filter)
    results = [_one(actor, request.action, job_id) for job_id in ids]
    ok = sum(1 for r in results if r.ok)
    return BulkResponse(action=request.action, results=results, succeeded=ok, failed=len(results) - ok)
