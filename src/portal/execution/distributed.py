"""The API node's side of the distributed mode: hand job ids to Celery, broadcast cancels, and keep the queue whole.

Besides sending, each API node beats in the worker registry (kind "api"), reaps the jobs of lost workers, and
runs the recovery sweep (duties of the process's duty runner): a job the broker lost (Redis restarted without
persistence, a send that failed while the broker was away) is still QUEUED in the database, so it is sent again.
A duplicate message is harmless because the worker's claim is conditional.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from portal.catalog import service as catalog_service
from portal.db import session as db
from portal.db.base import utcnow
from portal.duties import DutyFunction
from portal.execution import workers
from portal.execution.celery_config import is_redis
from portal.execution.celery_sender import CelerySender
from portal.execution.host import Heartbeat
from portal.execution.prevalidation import Prevalidation
from portal.jobs import counters
from portal.jobs.models import Job
from portal.jobs.schemas import Precheck, Verdict
from portal.jobs.states import JobState
from portal.settings import Settings

log = logging.getLogger(__name__)

KIND = "api"
CHECKS_MAX_AGE = 15.0
CHECKS_EVERY = 5.0
# A job committed this long before the broker was asked has had its message sent (or is in the unsent list).
SEND_GRACE_SECONDS = 1.0
RESEND_BATCH = 10_000


class CeleryExecutor:
    """An API node's executor: sends each queued job's id to its Celery queue (never runs a job itself), and
    keeps the queue whole with its duties (heartbeat and reaping, the checks of the broker and the bus, the
    recovery sweep)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sender = CelerySender(settings)
        self.app = self.sender.app
        self.control = self.sender.control
        self.node_id = workers.new_worker_id(KIND)
        self._heartbeat = Heartbeat(settings, self.node_id)
        self._short_queues: set[str] = set()
        self._checks: dict[str, str] | None = None
        self._checked_at = 0.0
        self._run_id: str | None = None
        # Launch-time validation runs here, in a sandbox of this node's own (kept when it has every protection).
        self.prevalidation = Prevalidation(settings)
        self.started = False

    # -- Executor interface ------------------------------------------------------------------------------------

    def start(self) -> None:
        workers.register(self.node_id, KIND, 0)
        self.prevalidation.start()
        self.started = True

    def submit(self, job_id: int, queue: str = catalog_service.DEFAULT_QUEUE, priority: int = 0) -> None:
        self.sender.submit(job_id, queue, priority)

    def cancel(self, job_id: int, running: bool = True) -> None:
        self.sender.cancel(job_id, running)

    def shutdown(self) -> None:
        if self.started:
            workers.mark_stopped(self.node_id)
        self.sender.shutdown()
        self.prevalidation.stop()
        self.started = False

    def precheck(self, check: Precheck) -> Verdict:
        return self.prevalidation.check(check)

    def duties(self) -> list[tuple[str, float, DutyFunction]]:
        return [
            ("heartbeat", self.settings.worker_heartbeat_seconds, lambda: self._heartbeat.beat(0)),
            ("checks", CHECKS_EVERY, self._refresh_checks),
            *self.sender.duties(),
            ("sweep", self.settings.recovery_seconds, self._sweep),
        ]

    # -- the broker --------------------------------------------------------------------------------------------

    def checks(self) -> dict[str, str]:
        """The last checks of the broker and the bus, made by the node's monitor (a probe never waits on them)."""
        if self._checks is None or time.monotonic() - self._checked_at > CHECKS_MAX_AGE:
            self._refresh_checks()
        assert self._checks is not None
        return self._checks

    def _refresh_checks(self) -> None:
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            broker = "ok"
        except Exception as exc:
            broker = f"unreachable: {type(exc).__name__}"
        self._checks = {"broker": broker, "event_bus": "ok" if self.control.ping() else "unreachable"}
        self._checked_at = time.monotonic()

    def isolation(self) -> list[dict[str, Any]]:
        return []  # jobs run in `portal worker` processes: each reports its own (the workers table)

    def queue_depths(self, queues: list[str]) -> dict[str, int | None]:
        """Messages waiting in each broker queue (None where the broker did not say)."""
        redis_broker = is_redis(self.settings.resolved_broker_url)
        depths: dict[str, int | None] = dict.fromkeys(queues)
        try:
            with self.app.connection_for_read() as conn:
                for name in queues:
                    if redis_broker:
                        # kombu's Redis channel sums the queue's priority lists (a passive declare does not see
                        # namespaced keys).
                        depths[name] = int(conn.default_channel._size(name))
                        continue
                    # RabbitMQ answers a passive declare with the count, and closes the channel when the queue
                    # does not exist: one channel per queue.
                    channel = conn.channel()
                    try:
                        depths[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
                    except Exception:
                        depths[name] = None
                    finally:
                        try:
                            channel.close()
                        except Exception:
                            log.debug("closing a channel failed", exc_info=True)
        except Exception as exc:
            log.debug("queue depths unavailable: %s", exc)
        return depths

    def _broker_run_id(self) -> str | None:
        """The Redis server's run id (it changes when Redis restarts or fails over); None for other brokers."""
        if not is_redis(self.settings.resolved_broker_url):
            return None
        with self.app.connection_for_read() as conn:
            return str(conn.default_channel.client.info("server").get("run_id"))

    # -- the node's duties -------------------------------------------------------------------------------------

    def _sweep(self) -> None:
        """Send again the messages the broker lost (one API node per round does it; the others skip).

        The broker is asked first how many messages each queue holds; then the jobs queued before that moment
        (less a second for sends in flight) are counted. Jobs that leave QUEUED meanwhile are not counted, and
        jobs queued later do not count, so a queue holding fewer messages than that is missing some. A message
        a worker took but has not claimed yet looks missing for an instant, so a queue must fall short on two
        rounds in a row, unless Redis restarted or failed over (its run id changed). Then the deficit, oldest
        jobs first, is sent again: duplicates are no-ops (the claim is conditional), and a lost message not
        among them shows up again as the queue drains.
        """
        run_id = self._broker_run_id()
        restarted = run_id is not None and self._run_id is not None and run_id != self._run_id
        self._run_id = run_id
        if not self.control.take_turn("sweep", self.node_id, self.settings.recovery_seconds):
            return
        queues: set[str] = set()
        with db.read() as s:
            for state, queue, _item, n in counters.state_counts(s.connection()):
                if state == "QUEUED" and n:
                    queues.add(queue)
        if not queues:
            self._short_queues = set()
            return
        asked_at = utcnow()
        depths = self.queue_depths(sorted(queues))
        sent_before = asked_at - timedelta(seconds=SEND_GRACE_SECONDS)
        with db.read() as s:
            waiting = dict(
                s.execute(
                    select(Job.queue, func.count())
                    .where(Job.state == JobState.QUEUED.value, Job.queued_at < sent_before, Job.queue.in_(queues))
                    .group_by(Job.queue)
                ).all()
            )
        deficits = {
            queue: int(waiting[queue]) - depth
            for queue, depth in depths.items()
            if depth is not None and int(waiting.get(queue, 0)) > depth
        }
        confirmed = set(deficits) if restarted else set(deficits) & self._short_queues
        self._short_queues = set(deficits)
        for queue in sorted(confirmed):
            log.warning(
                "queue %s holds %s message(s) for %d waiting job(s)%s: sending the oldest %d again",
                queue,
                depths[queue],
                waiting[queue],
                " after a broker restart" if restarted else "",
                deficits[queue],
            )
            self._resend(queue, sent_before, deficits[queue])

    def _resend(self, queue: str, queued_before: datetime, count: int) -> None:
        after = 0
        while count > 0:
            with db.read() as s:
                rows = s.execute(
                    select(Job.id, Job.priority)
                    .where(
                        Job.state == JobState.QUEUED.value,
                        Job.queue == queue,
                        Job.queued_at < queued_before,
                        Job.id > after,
                    )
                    .order_by(Job.id)
                    .limit(min(count, RESEND_BATCH))
                ).all()
            for row in rows:
                self.sender.send(row.id, queue, row.priority)
            if not rows:
                return
            count -= len(rows)
            after = rows[-1].id
