"""`GET /api/admin/health/detailed`: every node with its heartbeat and running jobs, the queues, the checks."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from portal.admin import stats
from portal.admin.schemas import HealthDetailed, NodeOut
from portal.db import session as db
from portal.db.base import utcnow
from portal.health import service as health_service
from portal.jobs import counters
from portal.jobs.models import Job
from portal.jobs.states import JobState
from portal.settings import get_settings


def detailed() -> HealthDetailed:
    settings = get_settings()
    now = utcnow()
    with db.read() as s:
        conn = s.connection()
        running: dict[str, list[int]] = defaultdict(list)
        for job_id, worker in s.execute(
            select(Job.id, Job.worker).where(Job.state == JobState.RUNNING.value).order_by(Job.id)
        ):
            running[worker or ""].append(job_id)
        queues = stats.queue_depths(conn, counters.state_counts(conn), now)
    nodes = [
        NodeOut(**worker.model_dump(), running_jobs=running.get(worker.id, []))
        for worker in stats.workers_seen(now, settings.worker_lost_after_seconds)
    ]
    return HealthDetailed(
        mode="distributed" if settings.distributed else "embedded",
        checks=health_service.checks(),
        nodes=nodes,
        queues=queues,
    )
