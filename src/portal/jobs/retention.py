"""Job history retention: finished jobs older than `PORTAL_JOB_RETENTION_DAYS` (or their item's own
`job_retention_days`) are deleted with their timeline, logs and approvals; sooner, after
`PORTAL_JOB_LOG_RETENTION_DAYS`, a finished job loses its logs, its progress reports and its result but keeps
its summary (state, times, inputs, error, transitions) and says when (`pruned_at`). 0 keeps them for ever, and an
item whose own retention is 0 keeps all of its jobs whole. Item test jobs are kept: they are the evidence a
version's activation is judged on, and a run cut in two by a cutoff would be judged on the cases left.

Pruning runs in transactions of at most `BATCH` jobs, so a portal with a million old jobs prunes them over many
short transactions while jobs keep running. The rows are read in id order, which follows creation: a scan stops
at the first job created after the newest cutoff (a job created later cannot have finished before it), and a
bounded run resumes where the previous one stopped, so jobs kept at the front never hold the rest back.
Deletions use `RETURNING`, so the counters and hourly rollups lose exactly the jobs this transaction removed,
even when two nodes prune at once; afterwards they equal a recount. Cutoffs are whole hours, so an hour's
rollup loses all of its finished runs or none of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.catalog.models import CatalogItem
from portal.db import session as db
from portal.db.base import utcnow
from portal.jobs import counters, kinds, usage
from portal.jobs.models import ItemTestCase, Job, JobApproval, JobEvent, JobLog
from portal.jobs.states import FINISHED
from portal.settings import get_settings

BATCH = 200  # a short transaction: the portal's own writers wait for it at most that long
PROGRESS = "progress"
_FINISHED = [str(state) for state in FINISHED]
_SUMMARY = (
    Job.id,
    Job.state,
    Job.queue,
    Job.item_id,
    Job.created_by,
    Job.created_at,
    Job.started_at,
    Job.finished_at,
    Job.kind,
    Job.pruned_at,
    Job.item_version,
    Job.cpu_ms,
    Job.max_rss_kb,
)


@dataclass
class PruneReport:
    deleted: int = 0
    trimmed: int = 0
    batches: int = 0
    resume_after: int = 0  # where a bounded run stopped (0: it went through)


def prune(
    now: datetime | None = None, *, max_batches: int | None = None, pause: float = 0.0, after: int = 0
) -> PruneReport:
    """Prune what is past its retention, `BATCH` jobs per transaction, from the job after id `after`, at most
    `max_batches` transactions (None: until nothing is left), sleeping `pause` seconds between them (room for the
    jobs that run meanwhile). A bounded run says where the next one should resume."""
    now = now or utcnow()
    report = PruneReport()
    rules = _Rules.load(now)
    if not rules.any():
        return report
    newest = rules.newest_cutoff
    reached_newer = False
    while not reached_newer and (max_batches is None or report.batches < max_batches):
        with db.write() as s:
            scanned = _scan(s, after)
            rows = [r for r in scanned if newest is not None and r.created_at < newest]
            reached_newer = len(rows) < len(scanned) or len(scanned) < BATCH
            if not rows:
                break
            after = rows[-1].id
            doomed = [r.id for r in rows if rules.delete(r)]
            gone = set(doomed)
            trimmed = [r.id for r in rows if r.id not in gone and rules.trim(r)]
            deleted = _delete(s, doomed)
            trimmed_now = _trim(s, trimmed, now)
            if deleted or trimmed_now:
                audit.record(
                    s,
                    None,
                    "jobs.prune",
                    target_type="jobs",
                    details={"deleted": deleted, "trimmed": trimmed_now, "from_id": rows[0].id, "to_id": after},
                    actor_name="system",
                )
        report.deleted += deleted
        report.trimmed += trimmed_now
        report.batches += 1
        if pause:
            time.sleep(pause)
    report.resume_after = 0 if reached_newer else after
    return report


@dataclass
class _Rules:
    """The cutoffs in force: finished jobs created and finished before their item's job cutoff go, and those
    finished before the log cutoff lose their details."""

    default: datetime | None
    items: dict[str, datetime | None]
    logs: datetime | None

    @classmethod
    def load(cls, now: datetime) -> _Rules:
        settings = get_settings()
        with db.read() as s:
            own = dict(
                s.execute(
                    select(CatalogItem.id, CatalogItem.job_retention_days).where(
                        CatalogItem.job_retention_days.is_not(None)
                    )
                ).all()
            )
        return cls(
            default=_cutoff(now, settings.job_retention_days),
            items={item_id: _cutoff(now, int(days or 0)) for item_id, days in own.items()},
            logs=_cutoff(now, settings.job_log_retention_days),
        )

    def any(self) -> bool:
        return self.newest_cutoff is not None

    @property
    def newest_cutoff(self) -> datetime | None:
        cutoffs = [c for c in (self.default, self.logs, *self.items.values()) if c is not None]
        return max(cutoffs) if cutoffs else None

    def delete(self, row: Any) -> bool:
        cutoff = self.items.get(row.item_id, self.default)  # an item of its own: its cutoff, maybe none
        return cutoff is not None and row.kind != kinds.TEST and _finished_before(row, cutoff)

    def trim(self, row: Any) -> bool:
        kept_whole = row.item_id in self.items and self.items[row.item_id] is None
        return (
            self.logs is not None
            and not kept_whole
            and row.kind != kinds.TEST
            and row.pruned_at is None
            and _finished_before(row, self.logs)
        )


def _cutoff(now: datetime, days: int) -> datetime | None:
    return counters.hour_of(now - timedelta(days=days)) if days > 0 else None


def _finished_before(row: Any, cutoff: datetime) -> bool:
    return row.state in _FINISHED and row.finished_at is not None and row.finished_at < cutoff


def _scan(s: Session, after: int) -> list[Any]:
    """The next jobs by id. Ids follow creation, so the caller stops at the first job created after the newest
    cutoff: no index on the creation time is needed, and no scan reads past one batch of newer jobs."""
    return list(s.execute(select(*_SUMMARY).where(Job.id > after).order_by(Job.id).limit(BATCH)).all())


def _delete(s: Session, ids: list[int]) -> int:
    """Delete these jobs with everything that hangs on them; the counters lose the ones actually deleted."""
    if not ids:
        return 0
    s.execute(update(Job).where(Job.retry_of.in_(ids)).values(retry_of=None))
    for table in (JobEvent, JobLog, JobApproval, ItemTestCase):
        s.execute(delete(table).where(table.job_id.in_(ids)))
    gone = s.execute(delete(Job).where(Job.id.in_(ids)).returning(*_SUMMARY)).all()
    for row in gone:
        counters.removed(s, row)
        usage.removed(s, row)
    counters.settle_removals(s)
    usage.settle(s)
    return len(gone)


def _trim(s: Session, ids: list[int], now: datetime) -> int:
    """Remove these jobs' logs, progress reports and result, once each."""
    if not ids:
        return 0
    done = list(
        s.scalars(
            update(Job)
            .where(Job.id.in_(ids), Job.pruned_at.is_(None))
            .values(pruned_at=now, result=None)
            .returning(Job.id)
        )
    )
    if done:
        s.execute(delete(JobLog).where(JobLog.job_id.in_(done)))
        s.execute(delete(JobEvent).where(JobEvent.job_id.in_(done), JobEvent.kind == PROGRESS))
    return len(done)
