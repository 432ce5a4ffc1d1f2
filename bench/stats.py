"""Stats: `GET /api/admin/stats` (the admin dashboard) with 100,000 jobs in SQLite and 1,000,000 in PostgreSQL.

The figures come from job counters and hourly rollups kept with every state change, not from counting the
jobs table, so the p95 should not grow with history. The floor is `GET /healthz` in the same run.
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
    timed_gets,
    write_results,
)

NAME = "stats"
SQLITE_JOBS = 100_000
POSTGRES_JOBS = 1_000_000
BATCH = 10_000
REQUESTS = 200
WARMUP = 5
TARGET_P95_MS = 50.0


def _measure(label: str, data: Path, jobs: int, database_url: str = "") -> dict[str, Any]:
    settings = {"PORTAL_DATABASE_URL": database_url} if database_url else {}
    with Server(data, worker_slots=0, settings=settings) as first:
        token = first.create_token()
    show(f"[{NAME}] {label}: inserting {jobs:,} jobs and rebuilding the counters")
    rng = random.Random(7)
    now = datetime.now(UTC)
    expected: Counter[str] = Counter()

    def batches() -> Iterator[list[dict[str, Any]]]:
        for first_row in range(0, jobs, BATCH):
            rows = job_rows(rng, first_row, min(BATCH, jobs - first_row), now, jobs)
            expected.update(row["state"] for row in rows)
            yield rows

    start = time.perf_counter()
    insert_jobs(data, batches(), database_url)
    show(f"[{NAME}]   inserted in {time.perf_counter() - start:.0f} s: {dict(sorted(expected.items()))}")
    with (
        Server(data, worker_slots=0, settings=settings) as server,
        httpx.Client(base_url=server.base_url, headers=auth(token), timeout=30.0) as client,
    ):
        floor, _ = timed_gets(client, "/healthz", {}, REQUESTS, WARMUP)
        times, body = timed_gets(client, "/api/admin/stats", {}, REQUESTS, WARMUP)
    by_state = {state: n for state, n in body["by_state"].items() if n}
    if by_state != dict(expected):
        raise CorrectnessError(f"{label}: by_state {by_state} differs from the inserted {dict(expected)}")
    stats, floor_stats = latency_summary(times), latency_summary(floor)
    ratio = stats["p95_ms"] / floor_stats["p95_ms"]
    met = "met" if stats["p95_ms"] < TARGET_P95_MS else "missed"
    show(
        f"[{NAME}]   GET /api/admin/stats p95 {stats['p95_ms']:.2f} ms, median {stats['median_ms']:.2f} ms; "
        f"/healthz p95 {floor_stats['p95_ms']:.2f} ms; ratio {ratio:.2f} (target p95 < {TARGET_P95_MS:.0f} ms: {met})"
    )
    return {"jobs": jobs, "stats": stats, "floor": floor_stats, "ratio": round(ratio, 2), "target_met": met == "met"}


def run() -> dict[str, Any]:
    """Run the scenario, print its figures and return them."""
    figures: dict[str, Any] = {}
    with data_dir(NAME) as data:
        figures["sqlite"] = _measure("SQLite", data, SQLITE_JOBS)
    with postgres_database(NAME) as url:
        if url is not None:
            with data_dir(f"{NAME}-pg") as data:
                figures["postgresql"] = _measure("PostgreSQL", data, POSTGRES_JOBS, url)
    write_results(NAME, figures)
    return figures
