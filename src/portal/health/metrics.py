"""`GET /metrics`: the process's instruments (`portal.instruments`) and the figures read when scraped.

Counters and histograms live in this process (prometheus_client); job counts, queue depths and WebSocket
clients are read when scraped, from the job counters and the hub, so every API node reports the same totals.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from portal.db import session as db
from portal.instruments import REGISTRY
from portal.jobs import counters
from portal.realtime.hub import hub


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
