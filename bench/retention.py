"""Retention: prune about 900,000 of 1,000,000 stored jobs (finished, one every 30 s over a year, each with two
timeline events) past `PORTAL_JOB_RETENTION_DAYS=30` with `portal admin prune`, while a client keeps submitting
no-op jobs to the running portal and waiting for them on the WebSocket. The floor is the same round trip with
nothing pruning, measured first in the same run; the target is the round trip staying under 2x of it.

The server itself keeps everything (its own retention duty is off), so the only pruner is the CLI process, on
the same SQLite database: the worst case for a writer that shares one database file with the portal.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert
from websockets.sync.client import connect

from bench.common import (
    PORTAL_BIN,
    CorrectnessError,
    Server,
    auth,
    data_dir,
    insert_jobs,
    job_rows,
    latency_summary,
    ms,
    percentile,
    show,
    write_results,
)
from bench.roundtrip import JobStream, one_round_trip
from portal.db import session as db
from portal.jobs.models import JobEvent
from portal.settings import Settings

NAME = "retention"
JOBS = 1_000_000
BATCH = 20_000
RETENTION_DAYS = 30
IDLE_TRIPS = 100
WARMUP = 10
TARGET_RATIO = 2.0


def _finished_jobs() -> Iterator[list[dict[str, Any]]]:
    rng = random.Random(15)
    now = datetime.now(UTC)
    for first in range(0, JOBS, BATCH):
        rows = job_rows(rng, first, min(BATCH, JOBS - first), now, JOBS)
        for row in rows:
            if row["state"] == "QUEUED":  # nothing for the portal's executor to pick up
                finished = row["created_at"] + timedelta(seconds=3)
                row.update(state="CANCELLED", finished_at=finished, updated_at=finished, message="cancelled")
        yield rows


def _insert_events(data: Path) -> None:
    """Two timeline events per job (created, finished), as the jobs' ids run from 1 in a fresh database."""
    db.configure(Settings(data_dir=data))
    try:
        with db.get_engine().begin() as conn:
            for first in range(1, JOBS + 1, BATCH):
                rows = []
                for job_id in range(first, min(first + BATCH, JOBS + 1)):
                    rows.append({"job_id": job_id, "kind": "state", "to_state": "QUEUED", "message": ""})
                    rows.append({"job_id": job_id, "kind": "state", "to_state": "SUCCEEDED", "message": ""})
                conn.execute(insert(JobEvent), rows)
    finally:
        db.dispose()


def _counts_match(data: Path) -> tuple[int, int]:
    """(jobs stored, jobs the counters hold): equal when the pruning kept the counters right."""
    with sqlite3.connect(data / "portal.db") as conn:
        stored = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        counted = conn.execute("SELECT coalesce(sum(n), 0) FROM job_counts").fetchone()[0]
    return int(stored), int(counted)


def run() -> dict[str, Any]:
    """Run the scenario, print its figures and return them."""
    with data_dir(NAME) as data:
        with Server(data, worker_slots=0) as first:
            token = first.create_token()
        show(f"[{NAME}] inserting {JOBS:,} finished jobs over a year, with two events each")
        start = time.perf_counter()
        insert_jobs(data, _finished_jobs())
        _insert_events(data)
        show(f"[{NAME}]   inserted in {time.perf_counter() - start:.0f} s")
        with (
            Server(data) as server,
            httpx.Client(base_url=server.base_url, headers=auth(token), timeout=30.0) as client,
            connect(f"{server.ws_url}/ws/jobs", additional_headers=auth(token), open_timeout=10) as ws,
        ):
            stream = JobStream(ws)
            for _ in range(WARMUP):
                one_round_trip(client, stream)
            idle = [one_round_trip(client, stream) for _ in range(IDLE_TRIPS)]
            show(f"[{NAME}]   idle round trip: median {ms(percentile(idle, 50)):.1f} ms")
            env = {**server.env, "PORTAL_JOB_RETENTION_DAYS": str(RETENTION_DAYS)}
            started = time.perf_counter()
            pruner = subprocess.Popen(
                [str(PORTAL_BIN), "admin", "prune"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            during: list[float] = []
            while pruner.poll() is None:
                during.append(one_round_trip(client, stream))
            pruned_in = time.perf_counter() - started
            output = (pruner.stdout.read() if pruner.stdout else "").strip()
            if pruner.returncode != 0:
                raise CorrectnessError(f"portal admin prune exited {pruner.returncode}: {output[-500:]}")
        stored, counted = _counts_match(data)
    if stored != counted:
        raise CorrectnessError(f"after pruning, {stored} jobs are stored but the counters hold {counted}")
    deleted = int(output.rsplit("\n", 1)[-1].split(" ", 1)[0])
    idle_summary, during_summary = latency_summary(idle), latency_summary(during)
    ratio_median = percentile(during, 50) / percentile(idle, 50)
    ratio_p95 = percentile(during, 95) / percentile(idle, 95)
    met = "met" if ratio_p95 <= TARGET_RATIO else "missed"
    show(f"[{NAME}]   {output}")
    show(
        f"[{NAME}]   pruned {deleted:,} jobs in {pruned_in:.0f} s ({deleted / pruned_in:,.0f} jobs/s); "
        f"{len(during)} round trips meanwhile: median {during_summary['median_ms']:.1f} ms, "
        f"p95 {during_summary['p95_ms']:.1f} ms against idle {idle_summary['median_ms']:.1f} / "
        f"{idle_summary['p95_ms']:.1f} ms: {ratio_median:.2f}x median, {ratio_p95:.2f}x p95 "
        f"(target <= {TARGET_RATIO:.0f}x: {met})"
    )
    figures = {
        "jobs": JOBS,
        "deleted": deleted,
        "prune_seconds": round(pruned_in, 1),
        "jobs_per_second": round(deleted / pruned_in),
        "idle": idle_summary,
        "during": during_summary,
        "ratio_median": round(ratio_median, 2),
        "ratio_p95": round(ratio_p95, 2),
        "target_met": met == "met",
        "counters_equal_jobs": stored,
    }
    write_results(NAME, figures)
    return figures
