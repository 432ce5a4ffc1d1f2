"""Celery for the distributed mode: the app both sides share, and the worker that runs job messages.

A message carries only a job id. The job row, committed before the message is sent, is the truth: the worker
claims the job with a conditional update (QUEUED -> RUNNING), so a message redelivered by the broker, sent twice
by the recovery sweep, or left behind by a cancel does nothing. Acknowledgement is late (after the job ended) and
each worker thread reserves one message at a time.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

from celery import Celery
from celery.exceptions import Reject
from celery.signals import worker_shutting_down
from prometheus_client import start_http_server

from portal.catalog import service as catalog_service
from portal.events import bus
from portal.events.signing import Signer
from portal.execution import workers
from portal.execution.host import JobHost
from portal.instruments import WORKER_REGISTRY
from portal.jobs import executors, runs
from portal.settings import Settings

log = logging.getLogger(__name__)

TASK_NAME = "portal.run_job"
CLAIM_RETRY_PAUSE = 2.0
DUTIES_LOG_EVERY = 30.0
# Every call to the broker or the bus gives up after this long: a Redis that accepts connections but does not
# answer must not hold requests (or the readiness probe) forever.
BROKER_SOCKET_TIMEOUT = 5.0
KIND = "celery"
MAX_PRIORITY = 9


def control_channel(settings: Settings) -> str:
    return f"{settings.redis_namespace}:control"


def events_channel(settings: Settings) -> str:
    return f"{settings.redis_namespace}:events"


def task_id(settings: Settings, job_id: int) -> str:
    """A job's task id: revoking it (a cancelled queued job) affects no other portal sharing the broker."""
    return f"{settings.redis_namespace}-job-{job_id}"


def is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "redis+socket://"))


def broker_priority(settings: Settings, priority: int) -> int:
    """A job's priority (higher runs first) as the broker's: Redis serves 0 first, RabbitMQ the highest."""
    level = max(0, min(priority, MAX_PRIORITY))
    return MAX_PRIORITY - level if is_redis(settings.resolved_broker_url) else level


def make_app(settings: Settings) -> Celery:
    """The Celery app of this portal: reliable delivery settings, no result backend (the jobs table has results)."""
    app = Celery("portal", broker=settings.resolved_broker_url, set_as_current=False)
    transport: dict[str, Any] = {}
    if is_redis(settings.resolved_broker_url):
        transport = {
            "socket_timeout": BROKER_SOCKET_TIMEOUT,
            "socket_connect_timeout": BROKER_SOCKET_TIMEOUT,
            "visibility_timeout": settings.broker_visibility_timeout,
            "priority_steps": list(range(MAX_PRIORITY + 1)),
            "sep": ":",
            "queue_order_strategy": "priority",
            "global_keyprefix": f"{settings.redis_namespace}:",
        }
    else:
        # RabbitMQ: publisher confirms (a send returns once the broker has the message) and bounded socket calls.
        transport = {
            "confirm_publish": True,
            "read_timeout": BROKER_SOCKET_TIMEOUT,
            "write_timeout": BROKER_SOCKET_TIMEOUT,
        }
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_ignore_result=True,
        task_default_queue=catalog_service.DEFAULT_QUEUE,
        task_create_missing_queues=True,
        task_queue_max_priority=MAX_PRIORITY + 1,
        task_default_priority=broker_priority(settings, 0),
        worker_prefetch_multiplier=settings.worker_prefetch,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_transport_options=transport,
        # A submit must not hang on a lost broker: the job stays QUEUED and the recovery sweep sends it later.
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
        broker_connection_timeout=3,
    )
    return app


class WorkerNode:
    """A `portal worker` process: a Celery worker (thread pool) whose tasks run jobs through a JobHost."""

    def __init__(self, settings: Settings) -> None:
        from portal.execution.distributed import CeleryExecutor  # it imports this module

        self.settings = settings
        self.host = JobHost(settings, KIND, settings.worker_concurrency)
        self.app = make_app(settings)
        self.control = bus.RedisEventBus(settings.redis_url, control_channel(settings), Signer(settings.secrets_key))
        self.events = bus.RedisEventBus(settings.redis_url, events_channel(settings), Signer(settings.secrets_key))
        self._monitor = threading.Thread(target=self._duties, name="worker-monitor", daemon=True)
        # Not started (a worker has no node duties): it sends the jobs this worker's reaper puts back in the queue.
        self.sender = CeleryExecutor(settings, self.app, self.control)
        host = self.host

        @self.app.task(name=TASK_NAME, ignore_result=True)  # type: ignore[untyped-decorator]
        def run_job(job_id: int) -> None:
            try:
                job = runs.claim(int(job_id), host.worker_id)
            except Exception as exc:
                # The database is away: put the message back (after a pause, not to spin) instead of dropping it.
                log.warning("job %s: claiming it failed (%s); its message goes back to the queue", job_id, exc)
                time.sleep(CLAIM_RETRY_PAUSE)
                raise Reject(str(exc), requeue=True) from exc
            if job is None:
                return  # already claimed, cancelled or finished: a duplicate or stale message
            host.finish(job, host.run(job))

    def run(self, log_level: str = "info") -> None:
        """Register, listen for cancels, and run the Celery worker until it is told to stop (warm shutdown)."""
        bus.set_bus(self.events)
        executors.set_current(self.sender)
        self.host.register()
        self.control.subscribe(self._on_control)
        worker_shutting_down.connect(self._on_shutting_down, weak=False)
        if self.settings.worker_metrics_port:
            start_http_server(
                self.settings.worker_metrics_port, addr=self.settings.worker_metrics_host, registry=WORKER_REGISTRY
            )
        self._monitor.start()
        name = f"{KIND}-{os.getpid()}@{socket.gethostname()}"
        try:
            self.app.worker_main(
                [
                    "worker",
                    "--pool=threads",
                    f"--concurrency={self.settings.worker_concurrency}",
                    f"--queues={','.join(self.settings.worker_queues)}",
                    f"--hostname={name}",
                    f"--loglevel={log_level.upper()}",
                    "--without-gossip",
                    "--without-mingle",
                ]
            )
        finally:
            self.host.stop()
            self.host.close()
            self.sender.shutdown()  # closes the control channel it shares
            self.events.close()

    def _on_shutting_down(self, **_: Any) -> None:
        self.host.draining.set()

    def _on_control(self, message: dict[str, Any]) -> None:
        # Cancels sent while Redis was away are not replayed (nor needed): each duty round reads the flags.
        if message.get("type") == "job.cancel":
            self.host.cancel(int(message["job_id"]))

    def _duties(self) -> None:
        logged = -DUTIES_LOG_EVERY
        while not self.host.stopping.wait(1.0):
            now = time.monotonic()
            try:
                self.events.flush()
                self.sender.resend_unsent()
                self.host.duties(now)
            except Exception:
                # Retried every second (the database may be away for a while); logged every half minute.
                if now - logged >= DUTIES_LOG_EVERY:
                    log.exception("worker duties failed")
                    logged = now


def check_worker(settings: Settings) -> tuple[bool, str]:
    """`portal worker --check`: is a worker of this host registered and beating within the lost-after window?"""
    alive = workers.alive_on_host(KIND, socket.gethostname(), settings.worker_lost_after_seconds)
    if not alive:
        return False, f"no {KIND} worker on {socket.gethostname()} has beaten in {settings.worker_lost_after_seconds}s"
    return True, f"{len(alive)} worker(s) alive: " + ", ".join(alive)
