"""The job service: what users do with jobs (create, retry, cancel, fetch the bundle a job ran). Reading jobs and
who may see which is `jobs.queries`.

Every change of a job row goes through `jobs.writer` (conditional updates checked against the state graph, a
timeline event, announced after the commit); user actions add their audit entry in the same transaction. The
executor's side (claims, progress, the end of a run, the reaper) is `jobs.runs`.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Row, update
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.catalog import queries as catalog_queries
from portal.catalog import storage as catalog_storage
from portal.db import group_commit
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict, Forbidden, NotFound
from portal.identity.principal import Principal
from portal.identity.roles import Role
from portal.jobs import executors, kinds, queries, submission
from portal.jobs.models import Job
from portal.jobs.schemas import JobOut
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
        old = queries.visible(s, actor, job_id)
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
        job = queries.visible(s, actor, job_id)
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
        job = queries.visible(s, actor, job_id)
        sha256, item_id, version = job.bundle_sha256, job.item_id, job.item_version
    if not sha256:
        raise NotFound(f"job {job_id} ran no bundle (a development version or an import)", details={"job_id": job_id})
    content = catalog_storage.bundle_content(sha256, f"job {job_id}")
    return content, f"{item_id}@{version}-job-{job_id}.tar.gz"
