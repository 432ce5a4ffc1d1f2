"""Bodies of the admin API: the dashboard's stats and the system page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Last24h(BaseModel):
    created: int
    succeeded: int
    failed: int
    cancelled: int
    failure_rate: float = Field(description="failed / finished, 0 when nothing finished")


class QueueDepth(BaseModel):
    queue: str
    depth: int = Field(description="queued jobs (the database)")
    oldest_queued_at: datetime | None
    oldest_age_seconds: float | None
    broker_messages: int | None = Field(
        default=None, description="messages waiting in the broker queue (distributed mode; None when unknown)"
    )


class HourBucket(BaseModel):
    hour: datetime
    created: int
    succeeded: int
    failed: int
    cancelled: int


class ItemTiming(BaseModel):
    item_id: str
    runs: int
    avg_ms: float
    max_ms: int


class ItemFailures(BaseModel):
    item_id: str
    failed: int
    finished: int
    failure_rate: float


class ProtectionOut(BaseModel):
    name: str = Field(
        description="uid, capabilities, seccomp, pid_namespace, filesystem_view, ... (docs/architecture.md)"
    )
    on: bool
    detail: str = Field(description="what it does, or why it is off")


class WorkerOut(BaseModel):
    id: str
    kind: str
    hostname: str
    pid: int
    slots: int
    running: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    heartbeat_age_seconds: float
    alive: bool
    isolation: list[ProtectionOut] | None = Field(
        default=None, description="the protections its jobs run with (processes that run jobs)"
    )


class Alert(BaseModel):
    level: str = Field(description="warning or critical")
    code: str = Field(description="failure_rate, queue_age, worker_lost, import_failed or disk_low")
    message: str


class Stats(BaseModel):
    generated_at: datetime
    by_state: dict[str, int] = Field(description="every job ever, by state (from counters, not a count)")
    pending_approval: int
    queued: int
    running: int
    last_24h: Last24h
    queues: list[QueueDepth]
    jobs_per_hour: list[HourBucket] = Field(description="the last 24 hours, oldest first")
    slowest_items: list[ItemTiming] = Field(description="the last 7 days, by average run time")
    failing_items: list[ItemFailures] = Field(description="the last 7 days, by failures")
    workers: list[WorkerOut]
    alerts: list[Alert]


class SystemStatus(BaseModel):
    version: str
    started_at: datetime
    uptime_seconds: float
    executor: str
    database: dict[str, Any]
    event_bus: dict[str, Any]
    storage: dict[str, Any]
    process: dict[str, Any]
    http: dict[str, Any]
    jobs: dict[str, Any]


class NodeOut(WorkerOut):
    running_jobs: list[int] = Field(description="ids of the jobs it runs now")


class HealthDetailed(BaseModel):
    mode: str = Field(description="embedded or distributed")
    checks: dict[str, str] = Field(description="database, migrations, executor, broker, event_bus: ok or the fault")
    nodes: list[NodeOut] = Field(description="API nodes and workers that run, or stopped within 24 h")
    queues: list[QueueDepth]
