"""A `portal worker` process of the distributed mode: a Celery worker (thread pool) whose tasks claim and run jobs
through a JobHost, with its duties (heartbeat, reaping, cancel flags, resends) in one duty runner."""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from celery.exceptions import Reject
from celery.signals import worker_shutting_down
from prometheus_client import start_http_server

from portal.duties import DutyRunner
from portal.events import bus
from portal.events.signing import Signer
from portal.execution import workers
from portal.execution.celery_config import TASK_NAME, events_channel, make_app
from portal.execution.celery_sender import CelerySender
from portal.execution.host import JobHost
from portal.instruments import WORKER_REGISTRY
from portal.jobs import executors, runs
from portal.settings import Settings

log = logging.getLogger(__name__)

KIND = "celery"
CLAIM_RETRY_PAUSE = 2.0


class WorkerNode:
    """A `portal worker` process: a Celery worker (thread pool) whose tasks run jobs through a JobHost."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.host = JobHost(settings, KIND, settings.worker_concurrency)
        self.app = make_app(settings)
        # It sends the jobs this worker's reaper puts back in the queue, and its control channel brings cancels.
        self.sender = CelerySender(settings, self.app)
        self.control = self.sender.control
        self.events = bus.RedisEventBus(settings.redis_url, events_channel(settings), Signer(settings.secrets_key))
        self.duties = DutyRunner("worker-duties")
        for name, every, duty in [*self.host.duties(), *self.sender.duties(), ("events", 1.0, self.events.flush)]:
            self.duties.add(name, every, duty)
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
        self.duties.start()
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
            self.duties.stop()
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


def check_worker(settings: Settings) -> tuple[bool, str]:
    """`portal worker --check`: is a worker of this host registered and beating within the lost-after window?"""
    alive = workers.alive_on_host(KIND, socket.gethostname(), settings.worker_lost_after_seconds)
    if not alive:
        return False, f"no {KIND} worker on {socket.gethostname()} has beaten in {settings.worker_lost_after_seconds}s"
    return True, f"{len(alive)} worker(s) alive: " + ", ".join(alive)
