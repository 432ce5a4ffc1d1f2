"""The scheduler: a duty of the portal process (`PORTAL_SCHEDULER`, on by default) that ticks the schedules.

Ticks are claimed in the database, so several schedulers never create two jobs for one tick (see `ticks.tick`).
The duty runs again when the next tick is due, at most `PORTAL_SCHEDULER_POLL_SECONDS` later (schedules changed
by another process are seen within that time), and at once when a schedule of this process changes
(`service.on_change`). Tick records older than `PORTAL_SCHEDULER_KEEP_RUNS_DAYS` are pruned every hour.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from portal.db.base import utcnow
from portal.schedules import ticks

PRUNE_EVERY = timedelta(hours=1)


class SchedulerDuty:
    """One round of the scheduler; returns the seconds until it wants the next (None: after the poll period)."""

    def __init__(self, keep_runs_days: int = 90) -> None:
        self.keep_runs = timedelta(days=keep_runs_days)
        self._pruned_at: datetime | None = None

    def __call__(self) -> float | None:
        now = utcnow()
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            ticks.prune_runs(now - self.keep_runs)
            self._pruned_at = now
        report = ticks.tick()
        if report.next_due is None:
            return None
        until = (report.next_due - utcnow()).total_seconds()
        if until > 0:
            return until
        if report.jobs or report.failed:
            return 0.0  # ticks fired, and more are due (became due meanwhile, or more than one tick takes)
        return None  # a tick that stays due is failing unexpectedly (logged): retry after the poll interval
