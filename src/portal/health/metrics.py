"""Prometheus metrics (`GET /metrics`) and the rolling request figures of the system page.

Counters and histograms live in this process (prometheus_client); job counts, queue depths and WebSocket
clients are read when scraped, from the job counters and the hub, so every API node reports the same totals.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from portal.db import session as db
from portal.jobs import counters
from portal.realtime.hub import hub

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


class _LiveCollector(Collector):
    """Figures read at scrape time: jobs by state and item, queue depth, WebSocket clients."""

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("portal_jobs", "Jobs by state and item (all time)", labels=["state", "item_id"])
        depth = GaugeMetricFamily("portal_queue_depth", "Jobs waiting in each queue", labels=["queue"])
        with db.read() as s:
            rows = counters.state_counts(s.connection())
        by_state_item: dict[tuple[str, str], int] = {}
        by_queue: dict[str, int] = {}
        for state, queue, item_id, n in rows:
            by_state_item[(state, item_id)] = by_state_item.get((state, item_id), 0) + n
            if state == "QUEUED":
                by_queue[queue] = by_queue.get(queue, 0) + n
        for (state, item_id), n in sorted(by_state_item.items()):
            jobs.add_metric([state, item_id], n)
        for queue, n in sorted(by_queue.items()):
            depth.add_metric([queue], n)
        yield jobs
        yield depth
        clients = GaugeMetricFamily("portal_websocket_clients", "WebSocket clients connected to this process")
        clients.add_metric([], hub.client_count)
        yield clients


REGISTRY.register(_LiveCollector())

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


def allowed(client_ip: str | None, networks: Iterable[str]) -> bool:
    """Whether the scraper's address is in one of the allowed networks."""
    if client_ip is None:
        return False
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    for network in networks:
        try:
            if address in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False
