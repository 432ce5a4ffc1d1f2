"""What a job's timeline keeps: every transition, and its progress sampled so that a chatty or long job stores a
bounded number of events.

A progress report always updates the job row (what lists and live streams show). It is stored as an event only
when the job's previous progress event is at least a spacing old; otherwise it replaces the last one, so each
stored sample is the last report of its window. The spacing is `PORTAL_JOB_PROGRESS_EVENT_SECONDS` (1 s), or
the run's age divided by half of `PORTAL_JOB_PROGRESS_EVENTS` (200) when that is longer, so samples stay
spread over the whole run; when the job holds more progress events than that, every other one is dropped (the
first and the last stay). Transitions, approvals, requeues and the named steps of the portal's own jobs (a Git
import's) are never touched.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, update

from portal.jobs.models import JobEvent
from portal.settings import get_settings

events_t: Table = JobEvent.__table__  # type: ignore[assignment]
PROGRESS = "progress"

_LAST_TWO = (
    select(events_t.c.id, events_t.c.kind, events_t.c.at)
    .where(events_t.c.job_id == bindparam("job_id"))
    .order_by(events_t.c.id.desc())
    .limit(2)
)
_REPLACE = (
    update(events_t)
    .where(events_t.c.id == bindparam("event_id"))
    .values(at=bindparam("at"), progress=bindparam("progress"), message=bindparam("message"))
)
_OF_JOB = (events_t.c.job_id == bindparam("job_id"), events_t.c.kind == PROGRESS)
_COUNT = select(func.count()).where(*_OF_JOB)
_PROGRESS_IDS = select(events_t.c.id).where(*_OF_JOB).order_by(events_t.c.id)


def spacing(age_seconds: float) -> float:
    """Seconds between two stored progress samples of a run that is `age_seconds` old."""
    settings = get_settings()
    return max(settings.job_progress_event_seconds, age_seconds / max(1, settings.job_progress_events // 2))


def store_progress(
    conn: Connection, job_id: int, now: datetime, started_at: datetime, percent: int, message: str
) -> None:
    """Record a progress report in the job's timeline (see the module's docstring); the caller holds the job."""
    last = conn.execute(_LAST_TWO, {"job_id": job_id}).all()
    if last and last[0].kind == PROGRESS:
        # The window of the last sample opened when the event before it was stored (or the run started).
        opened = last[1].at if len(last) > 1 else started_at
        if (now - opened).total_seconds() < spacing((now - started_at).total_seconds()):
            conn.execute(_REPLACE, {"event_id": last[0].id, "at": now, "progress": percent, "message": message})
            return
    conn.execute(
        insert(events_t),
        {"job_id": job_id, "at": now, "kind": PROGRESS, "progress": percent, "message": message},
    )
    if (conn.scalar(_COUNT, {"job_id": job_id}) or 0) > get_settings().job_progress_events:
        _thin(conn, job_id)


def _thin(conn: Connection, job_id: int) -> None:
    """Drop every other progress event of a job, keeping the first and the last."""
    ids = list(conn.scalars(_PROGRESS_IDS, {"job_id": job_id}))
    dropped = ids[1:-1:2]
    if dropped:
        conn.execute(delete(events_t).where(events_t.c.id.in_(dropped)))
