"""The process's Prometheus instruments and request figures: a leaf module (prometheus_client only), so that the
job service, the middleware and the worker record into them without importing the health package, which reads
the domains to report.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from prometheus_client import CollectorRegistry, Counter, Histogram

# Failures of the machinery around a task rather than of the task's own code.
RUNNER_ERROR_TYPES = frozenset(
    {
        "ProtocolError",
        "ProcessExited",
        "Timeout",
        "ResultTooLarge",
        "RunnerError",
        "RunnerLost",
        "WorkerLost",
        "SandboxError",
    }
)
REGISTRY = CollectorRegistry()
HTTP_LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
JOB_DURATION = Histogram(
    "portal_job_duration_seconds",
    "Run time of finished jobs (from start to end), by item and final state",
    ["item_id", "state"],
    registry=REGISTRY,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
RUNNER_FAILURES = Counter(
    "portal_runner_failures_total",
    "Jobs that failed because of the runner, the sandbox or the worker, not the task's own error",
    ["type"],
    registry=REGISTRY,
)


# What a `portal worker` serves on PORTAL_WORKER_METRICS_PORT: the figures only it sees (jobs end in workers in
# the distributed mode); the totals read from the database are the API nodes' to report.
WORKER_REGISTRY = CollectorRegistry()
WORKER_REGISTRY.register(JOB_DURATION)
WORKER_REGISTRY.register(RUNNER_FAILURES)


def job_finished(item_id: str, state: str, seconds: float | None, error_type: str | None) -> None:
    """Record a job's end (called by the job service after the commit)."""
    if seconds is not None:
        JOB_DURATION.labels(item_id, state).observe(seconds)
    if error_type in RUNNER_ERROR_TYPES:
        RUNNER_FAILURES.labels(error_type).inc()


class RequestWindow:
    """Requests and server errors of the last minutes, for the system page's rates."""

    def __init__(self, seconds: float = 300.0) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._events: deque[tuple[float, bool]] = deque()

    def add(self, error: bool, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._events.append((now, error))
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._events and self._events[0][0] < now - self.seconds:
            self._events.popleft()

    def rates(self, now: float | None = None) -> dict[str, float]:
        """Requests per second and the share of them that answered 5xx, over the window."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._trim(now)
            total = len(self._events)
            errors = sum(1 for _, error in self._events if error)
        return {
            "window_seconds": self.seconds,
            "requests_per_second": round(total / self.seconds, 3),
            "error_rate": round(errors / total, 4) if total else 0.0,
        }


requests_window = RequestWindow()


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_LATENCY.labels(method, route, str(status)).observe(seconds)
    requests_window.add(status >= 500)
