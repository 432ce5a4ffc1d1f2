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
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from portal.catalog import service as catalog_service
from portal.db import session as db
from portal.db.base import utcnow
from portal.execution import workers
from portal.execution.celery_app import TASK_NAME, broker_priority, control_channel, is_redis, make_app, task_id
from portal.execution.host import reap_lost_workers
from portal.jobs import control, counters
from portal.jobs.models import Job
from portal.jobs.states import JobState
from portal.realtime import bus
from portal.settings import Settings

log = logging.getLogger(__name__)

KIND = "api"
RESEND_BATCH = 10_000


class CeleryExecutor:
    """Sends each queued job's id to its Celery queue; never runs a job itself."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = make_app(settings)
        self.control = bus.RedisEventBus(settings.redis_url, control_channel(settings))
        self.node_id = workers.new_worker_id(KIND)
        self._unsent: dict[int, tuple[str, int]] = {}
        self._short_queues: set[str] = set()
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

    def cancel(self, job_id: int) -> None:
        # Whichever worker runs it hears this at once; a worker that misses it reads the database flag within 1 s.
        self.control.publish({"type": "job.cancel", "job_id": job_id})
        try:
            self.app.control.revoke(task_id(self.settings, job_id))
        except Exception as exc:
            log.warning("job %s: revoking its message failed (%s); the worker skips it anyway", job_id, exc)

    def shutdown(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
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
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            broker = "ok"
        except Exception as exc:
            broker = f"unreachable: {type(exc).__name__}"
        return {"broker": broker, "event_bus": "ok" if self.control.ping() else "unreachable"}

    def queue_depths(self, queues: list[str]) -> dict[str, int | None]:
        """Messages waiting in each broker queue (None when the broker does not answer)."""
        depths: dict[str, int | None] = {}
        try:
            with self.app.connection_for_read() as conn:
                channel = conn.default_channel
                for name in queues:
                    if is_redis(self.settings.resolved_broker_url):
                        # kombu's Redis channel sums the queue's priority lists (passive declares do not see
                        # namespaced keys); RabbitMQ answers a passive declare with the count.
                        depths[name] = int(channel._size(name))
                    else:
                        try:
                            depths[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
                        except Exception:
                            depths[name] = 0  # a queue nobody declared yet holds nothing
        except Exception as exc:
            log.debug("queue depths unavailable: %s", exc)
            return dict.fromkeys(queues)
        return depths

    # -- the node's duties -------------------------------------------------------------------------------------

    def _monitor(self) -> None:
        last_beat = last_expiry = last_sweep = 0.0
        while not self._stopping.wait(1.0):
            now = time.monotonic()
            try:
                if now - last_beat >= self.settings.worker_heartbeat_seconds:
                    workers.heartbeat(self.node_id, 0)
                    reap_lost_workers(self.settings, exclude=self.node_id)
                    last_beat = now
                if now - last_expiry >= self.settings.approval_check_seconds:
                    control.expire_approvals()
                    last_expiry = now
                self._resend_unsent()
                if now - last_sweep >= self.settings.recovery_seconds:
                    self._sweep()
                    last_sweep = now
            except Exception:
                log.exception("node duties failed")

    def _resend_unsent(self) -> None:
        with self._lock:
            pending, self._unsent = self._unsent, {}
        for job_id, (queue, priority) in pending.items():
            try:
                self._send(job_id, queue, priority)
            except Exception:
                with self._lock:
                    self._unsent.setdefault(job_id, (queue, priority))
                return  # the broker is still away; try again on the next round

    def _sweep(self) -> None:
        """Send again the jobs of a queue that holds fewer messages than it has jobs waiting longer than a sweep.

        The broker is asked first: a job whose message is taken after that leaves QUEUED before the jobs are
        counted. A message a worker has taken but not claimed yet still looks missing for an instant, so a queue
        is sent again only when it falls short on two sweeps in a row.
        """
        with db.read() as s:
            queues = sorted(
                {queue for state, queue, _item, n in counters.state_counts(s.connection()) if state == "QUEUED" and n}
            )
        if not queues:
            self._short_queues = set()
            return
        depths = {queue: depth for queue, depth in self.queue_depths(queues).items() if depth is not None}
        cutoff = utcnow() - timedelta(seconds=self.settings.recovery_seconds)
        with db.read() as s:
            waiting: dict[str, list[Any]] = {}
            for row in s.execute(
                select(Job.id, Job.queue, Job.priority)
                .where(Job.state == JobState.QUEUED.value, Job.queued_at < cutoff, Job.queue.in_(queues))
                .order_by(Job.priority.desc(), Job.id)
                .limit(RESEND_BATCH)
            ):
                waiting.setdefault(row.queue, []).append(row)
        short = {queue for queue, rows in waiting.items() if queue in depths and depths[queue] < len(rows)}
        confirmed, self._short_queues = short & self._short_queues, short
        for queue in sorted(confirmed):
            rows, depth = waiting[queue], depths[queue]
            log.warning(
                "queue %s holds %d message(s) for %d waiting job(s): sending them again", queue, depth, len(rows)
            )
            for row in rows:
                try:
                    self._send(row.id, queue, row.priority)
                except Exception as exc:
                    log.warning("the recovery sweep could not reach the broker: %s", exc)
                    return
