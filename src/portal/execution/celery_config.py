"""Celery for the distributed mode: the app both sides share (reliable delivery, no result backend), and the
names of this portal's task, channels and task ids, so that portals sharing a broker and a Redis never meet.

A message carries only a job id. The job row, committed before the message is sent, is the truth: the worker
claims the job with a conditional update (QUEUED -> RUNNING), so a message redelivered by the broker, sent twice
by the recovery sweep, or left behind by a cancel does nothing. Acknowledgement is late (after the job ended) and
each worker thread reserves one message at a time.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery

from portal.catalog import service as catalog_service
from portal.settings import Settings

log = logging.getLogger(__name__)

TASK_NAME = "portal.run_job"
# Every call to the broker or the bus gives up after this long: a Redis that accepts connections but does not
# answer must not hold requests (or the readiness probe) forever.
BROKER_SOCKET_TIMEOUT = 5.0
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
