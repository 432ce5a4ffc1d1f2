"""Reading jobs: who may see which job, a job's detail, its logs and timeline, and the jobs list with its true
total. What users do to jobs (create, retry, cancel) is `jobs.service`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal, or_, select
from sqlalchemy.orm import Session

from portal.auth import service as auth_service
from portal.catalog import queries as catalog_queries
from portal.db import session as db
from portal.errors import NotFound
from portal.identity.principal import Principal
from portal.identity.roles import Role
from portal.jobs import counters, kinds
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
from portal.jobs.states import JobState
from portal.jobs.writer import SUMMARY_COLUMNS, summary
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


def sees_all(principal: Principal) -> bool:
    """Operators and above see every job."""
    return principal.has(Role.operator)


def may_see(principal: Principal, owner_id: int | None) -> bool:
    """Operators and above see every job; everyone else sees their own."""
    return sees_all(principal) or owner_id == principal.id


def job_not_found(job_id: int) -> NotFound:
    """The one answer for a job that does not exist and for one the caller may not see."""
    return NotFound(f"job {job_id} not found")


def may_approve(principal: Principal, approval: dict[str, Any]) -> bool:
    """Whether an item's approval policy names this user, by role or by name."""
    who = approval.get("approvers", {})
    if "role" in who:
        return principal.has(Role[who["role"]])
    return principal.username in who.get("users", [])


def visible(s: Session, principal: Principal, job_id: int) -> Job:
    """A job the principal may see: their own, any (operators), or one waiting for their approval."""
    job = s.get(Job, job_id)
    if job is None:
        raise job_not_found(job_id)
    if may_see(principal, job.created_by):
        return job
    if job.state == JobState.PENDING_APPROVAL.value and job.approval and may_approve(principal, job.approval):
        return job  # an approver named by the item decides on what they can read
    raise job_not_found(job_id)


def get_job(actor: Principal, job_id: int) -> JobDetail:
    """A job's detail: its newest events, its retries, its approval and what it was given and gave back."""
    with db.read() as s:
        job = visible(s, actor, job_id)
        newest = select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id.desc()).limit(DETAIL_EVENTS)
        events = list(reversed(s.scalars(newest).all()))
        events_total = len(events)
        if events_total == DETAIL_EVENTS:
            events_total = s.scalar(select(func.count()).where(JobEvent.job_id == job_id)) or 0
        mine = [] if sees_all(actor) else [Job.created_by == actor.id]  # only the retries the viewer may open
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
    """A page of a job's log lines, oldest first, from the line after `after`."""
    with db.read() as s:
        visible(s, actor, job_id)
        rows = list(
            s.scalars(select(JobLog).where(JobLog.job_id == job_id, JobLog.id > after).order_by(JobLog.id).limit(limit))
        )
    return LogPage(
        items=[LogLine.model_validate(r) for r in rows], next_after=rows[-1].id if len(rows) == limit else None
    )


def get_events(actor: Principal, job_id: int, after: int = 0, limit: int = 200) -> EventPage:
    """A page of a job's timeline, oldest first, from the event after `after`."""
    with db.read() as s:
        visible(s, actor, job_id)
        query = select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.id > after).order_by(JobEvent.id)
        rows = list(s.scalars(query.limit(limit)))
    return EventPage(
        items=[JobEventOut.model_validate(r) for r in rows], next_after=rows[-1].id if len(rows) == limit else None
    )


def visible_owner(actor: Principal, job_id: int) -> int | None:
    """The owner of a job the actor may see (raises NotFound otherwise)."""
    with db.read() as s:
        return visible(s, actor, job_id).created_by


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
    owner = None if sees_all(actor) else actor.id
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
