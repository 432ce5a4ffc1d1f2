"""List: `GET /api/jobs` filtered, searched, sorted and paged with 100,000 jobs in SQLite and 1,000,000 in PostgreSQL.

The PostgreSQL part makes its own database on `PORTAL_BENCH_POSTGRES_URL` (skipped when unreachable).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
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
    postgres_database,
    show,
    show_query_table,
    timed_gets,
    write_results,
)

NAME = "list"
SQLITE_JOBS = 100_000
POSTGRES_JOBS = 1_000_000
BATCH = 10_000
REQUESTS = 200
WARMUP = 5
TARGET_P95_MS = 30.0  # SQLite, 100,000 jobs (issue 2)
POSTGRES_TARGET_P95_MS = 50.0  # PostgreSQL, 1,000,000 jobs (issue 5)
SEARCH_ID = 12345
QUERIES: list[tuple[str, dict[str, str | int]]] = [
    ("first page", {}),
    ("state=FAILED", {"state": "FAILED"}),
    ("item_id=backup-config", {"item_id": "backup-config"}),
    ("q=backup", {"q": "backup"}),
    ("q=admin", {"q": "admin"}),
    ("state=SUCCEEDED&item_id=noop&page=50", {"state": "SUCCEEDED", "item_id": "noop", "page": 50}),
    (f"q={SEARCH_ID}", {"q": str(SEARCH_ID)}),
    ("sort=-updated_at", {"sort": "-updated_at"}),
    ("state=FAILED&sort=-updated_at", {"state": "FAILED", "sort": "-updated_at"}),
    ("sort=item_id&page=20", {"sort": "item_id", "page": 20}),
    ("q=backup&sort=-progress", {"q": "backup", "sort": "-progress"}),
]


def _populate(
    data: Path, jobs: int, database_url: str = ""
) -> tuple[Counter[str], Counter[str], Counter[tuple[str, str]]]:
    """Insert the jobs straight into the database; return the counts by state, by item and by (state, item)."""
    rng = random.Random(20_240_601)
    now = datetime.now(UTC)
    by_state: Counter[str] = Counter()
    by_item: Counter[str] = Counter()
    by_both: Counter[tuple[str, str]] = Counter()

    def batches() -> Iterator[list[dict[str, Any]]]:
        for first in range(0, jobs, BATCH):
            rows = job_rows(rng, first, min(BATCH, jobs - first), now, jobs)
            for row in rows:
                by_state[row["state"]] += 1
                by_item[row["item_id"]] += 1
                by_both[(row["state"], row["item_id"])] += 1
            yield rows

    insert_jobs(data, batches(), database_url)
    return by_state, by_item, by_both


def _expected(
    label: str, jobs: int, by_state: Counter[str], by_item: Counter[str], by_both: Counter[tuple[str, str]]
) -> int | None:
    """The true `total` of a query, where the inserted data decides it."""
    return {
        "first page": jobs,
        "state=FAILED": by_state["FAILED"],
        "item_id=backup-config": by_item["backup-config"],
        "q=backup": by_item["backup-config"],
        "q=admin": jobs,
        "state=SUCCEEDED&item_id=noop&page=50": by_both[("SUCCEEDED", "noop")],
        f"q={SEARCH_ID}": 1,
        "sort=-updated_at": jobs,
        "state=FAILED&sort=-updated_at": by_state["FAILED"],
        "sort=item_id&page=20": jobs,
        "q=backup&sort=-progress": by_item["backup-config"],
    }.get(label)


def _measure(label: str, data: Path, jobs: int, target_p95_ms: float, database_url: str = "") -> dict[str, Any]:
    """Insert `jobs` jobs, restart the server on them and time every query; print the table."""
    settings = {"PORTAL_DATABASE_URL": database_url} if database_url else {}
    with Server(data, worker_slots=0, settings=settings) as first:
        token = first.create_token()
    show(f"[{NAME}] {label}: inserting {jobs:,} jobs in batches of {BATCH:,}")
    start = time.perf_counter()
    by_state, by_item, by_both = _populate(data, jobs, database_url)
    show(f"[{NAME}]   inserted in {time.perf_counter() - start:.1f} s: {dict(sorted(by_state.items()))}")
    with (
        Server(data, worker_slots=0, settings=settings) as server,
        httpx.Client(base_url=server.base_url, headers=auth(token), timeout=30.0) as client,
    ):
        show(f"[{NAME}] {REQUESTS} sequential requests per query (after {WARMUP} warm-up), p95 vs GET /healthz")
        floor_times, _ = timed_gets(client, "/healthz", {}, REQUESTS, WARMUP)
        results: dict[str, dict[str, Any]] = {}
        mismatches: list[str] = []
        for query, params in QUERIES:
            times, body = timed_gets(client, "/api/jobs", params, REQUESTS, WARMUP)
            expected = _expected(query, jobs, by_state, by_item, by_both)
            if expected is not None and body["total"] != expected:
                mismatches.append(f"{label} {query}: total {body['total']}, expected {expected}")
            if query == f"q={SEARCH_ID}" and [j["id"] for j in body["items"]] != [SEARCH_ID]:
                mismatches.append(f"{label} {query}: items {[j['id'] for j in body['items']][:5]}")
            if "page=" in query and len(body["items"]) != 50:
                mismatches.append(f"{label} {query}: {len(body['items'])} items on the page")
            results[query] = {"params": params, "total": body["total"], **latency_summary(times)}
    floor, worst = show_query_table(f"{NAME} {label}", results, floor_times, target_p95_ms, "total")
    return {
        "jobs": jobs,
        "requests_per_query": REQUESTS,
        "states": dict(by_state),
        "items": dict(by_item),
        "floor": {"request": "GET /healthz", **floor},
        "queries": results,
        "worst_p95_ms": worst,
        "target_p95_ms": target_p95_ms,
        "mismatches": mismatches,
    }


def run() -> dict[str, Any]:
    """Run the scenario on SQLite, then on PostgreSQL when reachable; print its figures and return them."""
    output: dict[str, Any] = {}
    with data_dir(NAME) as data:
        output["sqlite"] = _measure("SQLite", data, SQLITE_JOBS, TARGET_P95_MS)
    with postgres_database(NAME) as url:
        if url is not None:
            with data_dir(f"{NAME}-pg") as data:
                output["postgresql"] = _measure("PostgreSQL", data, POSTGRES_JOBS, POSTGRES_TARGET_P95_MS, url)
    show(f"[{NAME}] results in {write_results(NAME, output)}")
    mismatches = [m for part in output.values() for m in part["mismatches"]]
    if mismatches:
        raise CorrectnessError("wrong list answers: " + "; ".join(mismatches))
    show(f"[{NAME}] checks: every total matches the inserted data")
    return output
