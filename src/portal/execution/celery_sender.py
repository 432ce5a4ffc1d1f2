"""Sending job messages to Celery and cancels to the workers: what every process of the distributed mode that
queues or cancels jobs needs (an API node, and a worker whose reaper puts jobs back in the queue).

A send the broker does not take (it is away) keeps the job in an unsent list, sent again by `resend_unsent`
(a duty); the job is QUEUED in the database meanwhile, so nothing is lost, and the recovery sweep of the API
nodes finds any message the broker lost later.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery

from portal.catalog import service as catalog_service
from portal.duties import DutyFunction
from portal.events import bus
from portal.events.signing import Signer
from portal.execution.celery_config import TASK_NAME, broker_priority, control_channel, make_app, task_id
from portal.jobs.schemas import Precheck, Verdict
from portal.settings import Settings

log = logging.getLogger(__name__)


class CelerySender:
    """The Executor of a process that runs no job itself: sends each queued job's id to its Celery queue."""

    def __init__(self, settings: Settings, app: Celery | None = None) -> None:
        """`app`: a worker process's own Celery app, shared rather than made a second time."""
        self.settings = settings
        self.app = app or make_app(settings)
        self.control = bus.RedisEventBus(settings.redis_url, control_channel(settings), Signer(settings.secrets_key))
        self._unsent: dict[int, tuple[str, int]] = {}
        self._lock = threading.Lock()

    # -- Executor interface ------------------------------------------------------------------------------------

    def start(self) -> None:
        return None

    def submit(self, job_id: int, queue: str = catalog_service.DEFAULT_QUEUE, priority: int = 0) -> None:
        try:
            self.send(job_id, queue, priority)
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
        self.control.close()

    def checks(self) -> dict[str, str]:
        return {}

    def queue_depths(self, queues: list[str]) -> dict[str, int | None]:
        return {}

    def isolation(self) -> list[dict[str, Any]]:
        return []

    def duties(self) -> list[tuple[str, float, DutyFunction]]:
        return [("unsent", 1.0, self.resend_unsent)]

    def precheck(self, check: Precheck) -> Verdict:
        # A worker process creates jobs only for itself (imports, item tests): nobody waits on a form.
        return Verdict("unchecked", "workers do not validate at launch")

    # -- the broker --------------------------------------------------------------------------------------------

    def send(self, job_id: int, queue: str, priority: int) -> None:
        """One job's message, now (raises when the broker does not take it)."""
        self.app.send_task(
            TASK_NAME,
            args=[job_id],
            queue=queue,
            priority=broker_priority(self.settings, priority),
            task_id=task_id(self.settings, job_id),
        )

    def resend_unsent(self) -> None:
        """Send the jobs the broker did not take when they were queued (it was away)."""
        with self._lock:
            pending, self._unsent = self._unsent, {}
        items = list(pending.items())
        for index, (job_id, (queue, priority)) in enumerate(items):
            try:
                self.send(job_id, queue, priority)
            except Exception:
                # The broker is still away: keep this one and every one not tried yet for the next round.
                with self._lock:
                    for later_id, later in items[index:]:
                        self._unsent.setdefault(later_id, later)
                return
