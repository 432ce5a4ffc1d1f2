"""The scheduler loop: a thread of the portal process that ticks the schedules.

Every process may run one (`PORTAL_SCHEDULER`, on by default): ticks are claimed in the database, so several
schedulers never create two jobs for one tick (see `service.tick`). The loop sleeps until the next due tick,
at most `PORTAL_SCHEDULER_POLL_SECONDS` (schedules changed by another process are seen within that time), and
wakes at once when a schedule of this process changes.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from portal.db.base import utcnow
from portal.schedules import service, ticks

log = logging.getLogger(__name__)


PRUNE_EVERY = timedelta(hours=1)


class Scheduler:
    def __init__(self, poll_seconds: float, keep_runs_days: int = 90) -> None:
        self.poll_seconds = poll_seconds
        self.keep_runs = timedelta(days=keep_runs_days)
        self._pruned_at: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="portal-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        service.changed.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            service.changed.clear()
            wait = self.poll_seconds
            try:
                now = utcnow()
                if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
                    ticks.prune_runs(now - self.keep_runs)
                    self._pruned_at = now
                report = ticks.tick()
                if report.next_due is not None:
                    until = (report.next_due - utcnow()).total_seconds()
                    if until > 0:
                        wait = min(wait, until)
                    elif report.jobs or report.failed:
                        wait = 0  # ticks fired, and more are due (became due meanwhile, or more than one tick takes)
                    # else: a tick that stays due is failing unexpectedly (logged): retry after the poll interval
            except Exception:  # the database is away for a moment, ...: try again on the next round
                log.exception("the scheduler's tick failed")
            if wait > 0:
                service.changed.wait(wait)
