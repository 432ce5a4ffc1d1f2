"""List: `GET /api/jobs` filtered, searched and paged with 100,000 jobs stored."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    CorrectnessError,
    Server,
    auth,
    data_dir,
    insert_jobs,
    job_rows,
    latency_summary,
    show,
    show_query_table,
    timed_gets,
    write_results,
)

NAME = "list"
JOBS = 100_000
BATCH = 5_000
REQUESTS = 200
WARMUP = 5
TARGET_P95_MS = 30.0
SEARCH_ID = 12345
QUERIES: list[tuple[str, dict[str, str | int]]] = [
    ("first page", {}),
    ("state=FAILED", {"state": "FAILED"}),
    ("item_id=backup-config", {"item_id": "backup-config"}),
    ("q=backup", {"q": "backup"}),
    ("q=admin", {"q": "admin"}),
    ("state=SUCCEEDED&item_id=noop&page=50", {"state": "SUCCEEDED", "item_id": "noop", "page": 50}),
    (f"q={SEARCH_ID}", {"q": str(SEARCH_ID)}),
]


def _populate(data: Path) -> tuple[Counter[str], Counter[str], Counter[tuple[str, str]]]:
    """Insert the jobs straight into SQLite; return the counts by state, by item and by (state, item)."""
    rng = random.Random(20_240_601)
    now = datetime.now(UTC)
    by_state: Counter[str] = Counter()
    by_item: Counter[str] = Counter()
    by_both: Counter[tuple[str, str]] = Counter()
    batches = [job_rows(rng, first, min(BATCH, JOBS - first), now, JOBS) for first in range(0, JOBS, BATCH)]
    insert_jobs(data, batches)
    for rows in batches:
        for row in rows:
            by_state[row["state"]] += 1
            by_item[row["item_id"]] += 1
            by_both[(row["state"], row["item_id"])] += 1
    return by_state, by_item, by_both


def _expected(
    label: str, by_state: Counter[str], by_item: Counter[str], by_both: Counter[tuple[str, str]]
) -> int | None:
    """The true `total` of a query, where the inserted data decides it."""
    return {
        "first page": JOBS,
        "state=FAILED": by_state["FAILED"],
        "item_id=backup-config": by_item["backup-config"],
        "q=backup": by_item["backup-config"],
        "q=admin": JOBS,
        "state=SUCCEEDED&item_id=noop&page=50": by_both[("SUCCEEDED", "noop")],
        f"q={SEARCH_ID}": 1,
    }.get(label)


def run() -> dict[str, Any]:
    """Run the scenario, print its figures and return them."""
    with data_dir(NAME) as data:
        first = Server(data, worker_slots=0)
        with first:
            token = first.create_token()
        show(f"[{NAME}] inserting {JOBS} jobs into SQLite in batches of {BATCH}")
        start = time.perf_counter()
        by_state, by_item, by_both = _populate(data)
        show(f"[{NAME}]   inserted in {time.perf_counter() - start:.1f} s: {dict(sorted(by_state.items()))}")
        with (
            Server(data, worker_slots=0) as server,
            httpx.Client(base_url=server.base_url, headers=auth(token), timeout=30.0) as client,
        ):
            show(f"[{NAME}] {REQUESTS} sequential requests per query (after {WARMUP} warm-up), p95 vs GET /healthz")
            floor_times, _ = timed_gets(client, "/healthz", {}, REQUESTS, WARMUP)
            results: dict[str, dict[str, Any]] = {}
            mismatches: list[str] = []
            for label, params in QUERIES:
                times, body = timed_gets(client, "/api/jobs", params, REQUESTS, WARMUP)
                expected = _expected(label, by_state, by_item, by_both)
                if expected is not None and body["total"] != expected:
                    mismatches.append(f"{label}: total {body['total']}, expected {expected}")
                if label == f"q={SEARCH_ID}" and [j["id"] for j in body["items"]] != [SEARCH_ID]:
                    mismatches.append(f"{label}: items {[j['id'] for j in body['items']][:5]}")
                if label.endswith("page=50") and len(body["items"]) != 50:
                    mismatches.append(f"{label}: {len(body['items'])} items on page 50")
                results[label] = {"params": params, "total": body["total"], **latency_summary(times)}
    floor, worst = show_query_table(NAME, results, floor_times, TARGET_P95_MS, "total")
    output: dict[str, Any] = {
        "jobs": JOBS,
        "requests_per_query": REQUESTS,
        "states": dict(by_state),
        "items": dict(by_item),
        "floor": {"request": "GET /healthz", **floor},
        "queries": results,
        "worst_p95_ms": worst,
        "target_p95_ms": TARGET_P95_MS,
        "mismatches": mismatches,
    }
    show(f"[{NAME}] results in {write_results(NAME, output)}")
    if mismatches:
        raise CorrectnessError("wrong list answers: " + "; ".join(mismatches))
    show(f"[{NAME}] checks: every total matches the inserted data")
    return output
