"""The API node's side of the distributed mode: hand job ids to Celery, broadcast cancels, and keep the queue whole.

Besides sending, each API node beats in the worker registry (kind "api"), expires approvals, reaps the jobs of
lost workers, and runs the recovery sweep: a job the broker lost (Redis restarted without persistence, a send
that failed while the broker was away) is still QUEUED in the database, so it is sent again. A duplicate message
is harmless because the worker's claim is conditional.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from celery import Celery
from sqlalchemy import func, select

from portal.catalog import service as catalog_service
from portal.db import session as db
from portal.db.base import utcnow
from portal.events import bus
from portal.events.signing import Signer
from portal.execution import workers
from portal.execution.celery_app import TASK_NAME, broker_priority, control_channel, is_redis, make_app, task_id
from portal.execution.host import reap_lost_workers
from portal.jobs import control, counters
from portal.jobs.models import Job
from portal.jobs.states import JobState
from portal.settings import Settings

log = logging.getLogger(__name__)

KIND = "api"
CHECKS_MAX_AGE = 15.0
CHECKS_EVERY = 5.0
# A job committed this long before the broker was asked has had its message sent (or is in the unsent list).
SEND_GRACE_SECONDS = 1.0
RESEND_BATCH = 10_000
DUTY_LOG_EVERY = 30.0


class CeleryExecutor:
    """Sends each queued job's id to its Celery queue; never runs a job itself."""

    def __init__(self, settings: Settings, app: Celery | None = None, control: bus.RedisEventBus | None = None) -> None:
        """`app` and `control`: a worker process's own, shared rather than opened a second time."""
        self.settings = settings
        self.app = app or make_app(settings)
        self.control = control or bus.RedisEventBus(
            settings.redis_url, control_channel(settings), Signer(settings.secrets_key)
        )
        self.node_id = workers.new_worker_id(KIND)
        self._unsent: dict[int, tuple[str, int]] = {}
        self._short_queues: set[str] = set()
        self._checks: dict[str, str] | None = None
        self._checked_at = 0.0
        self._last_beat = 0.0
        self._run_id: str | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._monitor, name="node-monitor", daemon=True)
        self.started = False

    # -- Executor interface ------------------------------------------------------------------------------------

    def start(self) -> None:
        workers.register(self.node_id, KIND, 0)
        self._thread.start()
        self.started = True

    def submit(self, job_id: int, queue: str = catalog_service.DEFAULT_QUEUE, priority: int = 0) -> None:
        try:
            self._send(job_id, queue, priority)
        except Exception as exc:
            log.warning(
                "job %s: the broker did not take it (%s); it is sent again when the broker is back", job_id, exc
            )
            with self._lock:
                self._unsent[job_id] = (queue, priority)

    def cancel(self, job_id: int, running: bool = True) -> None:
        if running:
            # Whichever worker runs it hears this at once; one that misses it reads the database flag within 1 s.
            self.control.publish({"type": "job.cancel", "job_id": job_id})
            return
        try:
            self.app.control.revoke(task_id(self.settings, job_id))
        except Exception as exc:
            log.warning("job %s: revoking its message failed (%s); the worker skips it anyway", job_id, exc)

    def shutdown(self) -> None:
        self._stopping.set()
        if self.started:
            self._thread.join(timeout=10)
            workers.mark_stopped(self.node_id)
        self.control.close()
        self.started = False

    # -- the broker --------------------------------------------------------------------------------------------

    def _send(self, job_id: int, queue: str, priority: int) -> None:
        self.app.send_task(
            TASK_NAME,
            args=[job_id],
            queue=queue,
            priority=broker_priority(self.settings, priority),
            task_id=task_id(self.settings, job_id),
        )

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

    def _monitor(self) -> None:
        last: dict[str, float] = {}
        duties = (
            ("heartbeat", self.settings.worker_heartbeat_seconds, self._beat_and_reap),
            ("approvals", self.settings.approval_check_seconds, control.expire_approvals),
            ("checks", CHECKS_EVERY, self._refresh_checks),
            ("unsent", 1.0, self.resend_unsent),
            ("events", 1.0, bus.current().flush),
            ("sweep", self.settings.recovery_seconds, self._sweep),
        )
        logged: dict[str, float] = {}
        while not self._stopping.wait(1.0):
            for name, every, duty in duties:
                now = time.monotonic()
                if now - last.get(name, 0.0) < every:
                    continue
                try:
                    duty()
                    last[name] = now
                except Exception:
                    # Each duty on its own: a database that is away must not stop the resends, nor the reverse.
                    # A failing duty is retried every second, and logged at most every half minute.
                    if now - logged.get(name, -DUTY_LOG_EVERY) >= DUTY_LOG_EVERY:
                        log.exception("node duty %s failed", name)
                        logged[name] = now

    def _beat_and_reap(self) -> None:
        beat_was_late = time.monotonic() - self._last_beat > self.settings.worker_lost_after_seconds
        workers.heartbeat(self.node_id, 0)
        self._last_beat = time.monotonic()
        if not beat_was_late:  # after an outage of our own, the others need a beat to show up
            reap_lost_workers(self.settings, exclude=self.node_id)

    def resend_unsent(self) -> None:
        """Send the jobs the broker did not take when they were queued (it was away)."""
        with self._lock:
            pending, self._unsent = self._unsent, {}
        items = list(pending.items())
        for index, (job_id, (queue, priority)) in enumerate(items):
            try:
                self._send(job_id, queue, priority)
            except Exception:
                # The broker is still away: keep this one and every one not tried yet for the next round.
                with self._lock:
                    for later_id, later in items[index:]:
                        self._unsent.setdefault(later_id, later)
                return

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
                self._send(row.id, queue, row.priority)
            if not rows:
                return
            count -= len(rows)
            after = rows[-1].id
