"""Jobs of a kind other than a task that a domain above asks for once per subject (a source's refresh): find the
one queued or running, when the last one ended, and queue a new one inside the caller's unit of work, so that the
caller's check ("none runs, the last ended long enough ago") and the insert are one decision under one lock.
The job service still owns every state change after this insert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.identity.principal import Principal
from portal.jobs.models import Job
from portal.jobs.schemas import JobOut
from portal.jobs.states import ACTIVE
from portal.jobs.writer import insert_job, job_out


def active_job_of(s: Session, kind: str, subject: str, *, lock: bool = False) -> JobOut | None:
    """The newest job of a kind other than a task for `subject` (its item_id) that is queued or running."""
    query = (
        select(Job)
        .where(Job.kind == kind, Job.item_id == subject, Job.state.in_([st.value for st in ACTIVE]))
        .order_by(Job.id.desc())
        .limit(1)
    )
    job = s.scalar(query.with_for_update() if lock else query)
    return JobOut.model_validate(job) if job is not None else None


def last_finished_of(s: Session, kind: str, subject: str) -> datetime | None:
    """When the newest finished job of a kind for `subject` ended (None: none has)."""
    return s.scalar(
        select(Job.finished_at)
        .where(Job.kind == kind, Job.item_id == subject, Job.finished_at.is_not(None))
        .order_by(Job.id.desc())
        .limit(1)
    )


def insert_kind_job(
    s: Session,
    actor: Principal | None,
    *,
    kind: str,
    subject: str,
    ref: str,
    inputs: dict[str, Any],
    timeout_seconds: int,
    actor_name: str | None,
    action: str,
    audit_details: dict[str, Any],
) -> JobOut:
    """Queue a job of a kind other than a task in the caller's unit of work (which decided, under its lock, that
    it is due), audited as `action`; announced and handed to the executor once the unit of work commits."""
    row = insert_job(
        s,
        actor,
        kind=kind,
        item_id=subject,
        item_version=ref,
        inputs=inputs,
        timeout_seconds=timeout_seconds,
        actor_name=actor_name,
    )
    audit.record(s, actor, action, target_type="job", target_id=row.id, details=audit_details, actor_name=actor_name)
    return job_out(row)


def active_jobs_of(s: Session, kind: str, subjects: list[str]) -> dict[str, int]:
    """The newest queued or running job of a kind for each of `subjects` that has one."""
    if not subjects:
        return {}
    rows = s.execute(
        select(Job.item_id, Job.id).where(
            Job.kind == kind, Job.item_id.in_(subjects), Job.state.in_([st.value for st in ACTIVE])
        )
    )
    found: dict[str, int] = {}
    for subject, job_id in rows:
        found[subject] = max(job_id, found.get(subject, 0))
    return found
