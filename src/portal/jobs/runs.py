"""The executor's side of the jobs domain: claiming queued jobs, a run's progress and log lines, how a run ended,
and the reaper's handling of runs whose worker is lost. Every change goes through the state writer
`jobs.writer` (transitions, announcements after the commit); a run is named by its `RunKey`, so a run that
lost its job can no longer change it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from portal import instruments
from portal.catalog import queries as catalog_queries
from portal.db import session as db
from portal.db.base import utcnow
from portal.events import bus
from portal.jobs import history, kinds
from portal.jobs.messages import JobLogMessage
from portal.jobs.models import Job
from portal.jobs.schemas import ClaimedJob, RunKey, RunResult, is_rejection
from portal.jobs.states import JobState, check_edge
from portal.jobs.writer import (
    SUMMARY,
    announce,
    events_t,
    jobs_t,
    logs_t,
    record_move,
    transition,
    write_event,
)

RUN_COLUMNS = (
    jobs_t.c.bundle_sha256,
    jobs_t.c.entrypoint,
    jobs_t.c.inputs,
    jobs_t.c.timeout_seconds,
    jobs_t.c.resources,
    jobs_t.c.sealed_inputs,
    jobs_t.c.secrets,
)
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


def _claim(s: Session, worker_id: str, now: Any, job_id: int | None = None) -> tuple[Row[Any], ClaimedJob] | None:
    check_edge(JobState.QUEUED, JobState.RUNNING)
    conn = s.connection()
    if job_id is None:
        row = conn.execute(_CLAIM, {"now": now, "worker": worker_id}).first()
    else:
        row = conn.execute(_CLAIM_ONE, {"now": now, "worker": worker_id, "job_id": job_id}).first()
    if row is None:
        return None
    record_move(s, row, JobState.QUEUED, JobState.RUNNING, now, message=f"started on {worker_id}")
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
            write_event(conn, job_id, now, "step", progress=percent, message=message)
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
    bus.publish(JobLogMessage(job_id=job_id, created_by=owner, lines=numbered, at=now).model_dump(mode="json"))


def finish(job_id: int, run: RunKey, outcome: RunResult, *, claim_next: bool = False) -> ClaimedJob | None:
    """Record how a run of a job ended (RUNNING -> SUCCEEDED | FAILED | CANCELLED | REJECTED); nothing when that run no
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
            target = JobState.REJECTED if is_rejection(error) else JobState.FAILED
            message = f"{error.get('type')}: {error.get('message')}"[:1000]
            values = {"error": error, "message": message}
        used: dict[str, Any] = {}
        if outcome.cpu_seconds is not None:
            used["cpu_ms"] = int(outcome.cpu_seconds * 1000)
        if outcome.max_rss_bytes is not None:
            used["max_rss_kb"] = outcome.max_rss_bytes // 1024
        row = transition(
            s, job_id, JobState.RUNNING, target, {**values, **used, "finished_at": now}, message=message, held_by=run
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
            and job.kind == kinds.TASK
            and catalog_queries.is_idempotent(job.item_id, job.item_version)
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
        write_event(
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
