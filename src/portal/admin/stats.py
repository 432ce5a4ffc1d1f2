"""The dashboard's figures, from the job counters and hourly rollups (small tables), never a count over all jobs."""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import Connection

from portal.admin.schemas import Alert, HourBucket, ItemFailures, ItemTiming, Last24h, QueueDepth, Stats, WorkerOut
from portal.catalog import import_failures
from portal.db import session as db
from portal.db.base import utcnow
from portal.execution import workers
from portal.jobs import counters, executors
from portal.settings import get_settings

TOP_ITEMS = 5


def workers_seen(now: datetime, lost_after: float) -> list[WorkerOut]:
    out = []
    for w in workers.recent():
        age = (now - w.heartbeat_at).total_seconds()
        out.append(
            WorkerOut(
                id=w.id,
                kind=w.kind,
                hostname=w.hostname,
                pid=w.pid,
                slots=w.slots,
                running=w.running,
                started_at=w.started_at,
                heartbeat_at=w.heartbeat_at,
                stopped_at=w.stopped_at,
                heartbeat_age_seconds=round(age, 1),
                alive=w.stopped_at is None and age <= lost_after,
                isolation=w.isolation,
            )
        )
    return out


def queue_depths(conn: Connection, rows: list[tuple[str, str, str, int]], now: datetime) -> list[QueueDepth]:
    """Queued jobs per queue (from the counters), their oldest, and the broker's messages where there is one."""
    depth: dict[str, int] = defaultdict(int)
    for state, queue, _item, n in rows:
        depth[queue] += n if state == "QUEUED" else 0  # every queue that has had jobs is listed
    broker = executors.current().queue_depths(sorted(depth))
    queues = []
    for queue, n in sorted(depth.items()):
        oldest = counters.oldest_queued(conn, queue) if n else None
        queues.append(
            QueueDepth(
                queue=queue,
                depth=n,
                oldest_queued_at=oldest,
                oldest_age_seconds=round((now - oldest).total_seconds(), 1) if oldest else None,
                broker_messages=broker.get(queue),
            )
        )
    return queues


def _alerts(last: Last24h, queues: list[QueueDepth], worker_list: list[WorkerOut], import_details: bool) -> list[Alert]:
    settings = get_settings()
    alerts: list[Alert] = []
    finished = last.succeeded + last.failed + last.cancelled
    if finished >= settings.alert_failure_min_jobs and last.failure_rate > settings.alert_failure_rate:
        alerts.append(
            Alert(
                level="warning",
                code="failure_rate",
                message=f"{last.failure_rate:.0%} of the jobs that finished in the last 24 h failed "
                f"(threshold {settings.alert_failure_rate:.0%})",
            )
        )
    limit = settings.alert_queue_age_minutes * 60
    for queue in queues:
        if queue.oldest_age_seconds is not None and queue.oldest_age_seconds > limit:
            alerts.append(
                Alert(
                    level="warning",
                    code="queue_age",
                    message=f"queue {queue.queue!r}: the oldest job has waited {queue.oldest_age_seconds / 60:.0f} "
                    f"minutes (threshold {settings.alert_queue_age_minutes:g})",
                )
            )
    for worker in worker_list:
        if worker.stopped_at is None and not worker.alive:
            alerts.append(
                Alert(
                    level="critical",
                    code="worker_lost",
                    message=f"worker {worker.id} has not sent a heartbeat for {worker.heartbeat_age_seconds:.0f} s",
                )
            )
    failed_imports, newest = import_failures.since(utcnow() - timedelta(hours=24))
    if newest is not None:
        message = f"{failed_imports} catalog import(s) failed in the last 24 h"
        if import_details:  # what was imported and why it failed: what the analytics show publishers
            what = f"{newest.item_id} {newest.version or ''}".strip() if newest.item_id else newest.target
            message += f"; the newest, {what} ({newest.source}): {newest.message}"
        alerts.append(Alert(level="warning", code="import_failed", message=message[:500]))
    usage = shutil.disk_usage(settings.data_dir)
    free = 100 * usage.free / usage.total if usage.total else 100.0
    if free < settings.alert_disk_free_percent:
        alerts.append(
            Alert(
                level="critical",
                code="disk_low",
                message=f"{free:.1f}% of the data directory's disk is free "
                f"(threshold {settings.alert_disk_free_percent:g}%)",
            )
        )
    return alerts


def stats(import_details: bool = True) -> Stats:
    """Counts by state, the last 24 hours, queues, items, workers and alerts."""
    settings = get_settings()
    now = utcnow()
    this_hour = counters.hour_of(now)
    day_start = this_hour - timedelta(hours=23)
    with db.read() as s:
        conn = s.connection()
        rows = counters.state_counts(conn)
        hours = {r.hour: r for r in counters.hourly_since(conn, day_start)}
        week = counters.items_since(conn, this_hour - timedelta(days=7))
        by_state: dict[str, int] = defaultdict(int)
        for state, _queue, _item, n in rows:
            by_state[state] += n
        queues = queue_depths(conn, rows, now)
    buckets = []
    for i in range(24):
        hour = day_start + timedelta(hours=i)
        row = hours.get(hour)
        buckets.append(
            HourBucket(
                hour=hour,
                created=int(row.created) if row else 0,
                succeeded=int(row.succeeded) if row else 0,
                failed=int(row.failed) if row else 0,
                cancelled=int(row.cancelled) if row else 0,
            )
        )
    succeeded = sum(b.succeeded for b in buckets)
    failed = sum(b.failed for b in buckets)
    cancelled = sum(b.cancelled for b in buckets)
    finished = succeeded + failed + cancelled
    last = Last24h(
        created=sum(b.created for b in buckets),
        succeeded=succeeded,
        failed=failed,
        cancelled=cancelled,
        failure_rate=round(failed / finished, 4) if finished else 0.0,
    )
    slowest = sorted(
        (
            ItemTiming(
                item_id=r.item_id,
                runs=int(r.timed),
                avg_ms=round(r.duration_ms_sum / r.timed, 1),
                max_ms=int(r.duration_ms_max),
            )
            for r in week
            if r.timed
        ),
        key=lambda t: t.avg_ms,
        reverse=True,
    )[:TOP_ITEMS]
    failing = sorted(
        (
            ItemFailures(
                item_id=r.item_id,
                failed=int(r.failed),
                finished=int(r.finished),
                failure_rate=round(r.failed / r.finished, 4) if r.finished else 0.0,
            )
            for r in week
            if r.failed
        ),
        key=lambda f: (f.failed, f.failure_rate),
        reverse=True,
    )[:TOP_ITEMS]
    worker_list = workers_seen(now, settings.worker_lost_after_seconds)
    return Stats(
        generated_at=now,
        by_state=dict(sorted(by_state.items())),
        pending_approval=by_state.get("PENDING_APPROVAL", 0),
        queued=by_state.get("QUEUED", 0),
        running=by_state.get("RUNNING", 0),
        last_24h=last,
        queues=queues,
        jobs_per_hour=buckets,
        slowest_items=slowest,
        failing_items=failing,
        workers=worker_list,
        alerts=_alerts(last, queues, worker_list, import_details),
    )
