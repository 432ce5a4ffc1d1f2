"""Drain: 2,000 no-op jobs queued while no worker runs, then drained by a restarted server with 2 slots."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.common import (
    NOOP_JOB,
    CorrectnessError,
    Server,
    auth,
    data_dir,
    interpreter_throughput,
    show,
    write_results,
)
from bench.cpu import CpuUse, ceiling_verdict, machine_cpu
from portal.db import session as db
from portal.jobs.models import Job, JobEvent
from portal.settings import Settings

NAME = "drain"
JOBS = 2000
SUBMITTERS = 8
SLOTS = 2
DRAIN_LIMIT = 300.0
FLOOR_SECONDS = 10.0
TARGET = 150.0
STRETCH = 300.0
TARGET_RATIO = 1.2  # of the interpreter-start floor
FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
ROUNDS = ("auto", "off", "auto", "off")
MAX_LOSS = 0.15  # what the job sandbox may cost the drain at most


def submit_noops(base_url: str, token: str, jobs: int = JOBS) -> list[int]:
    """POST `jobs` no-op jobs from a few threads; every answer must be 201."""
    ids: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    share = [jobs // SUBMITTERS + (1 if i < jobs % SUBMITTERS else 0) for i in range(SUBMITTERS)]

    def post(count: int) -> None:
        try:
            with httpx.Client(base_url=base_url, headers=auth(token), timeout=60.0) as client:
                for _ in range(count):
                    response = client.post("/api/jobs", json=NOOP_JOB)
                    with lock:
                        if response.status_code == 201:
                            ids.append(int(response.json()["id"]))
                        else:
                            errors.append(f"{response.status_code}: {response.text[:200]}")
        except Exception as exc:
            with lock:
                errors.append(repr(exc))

    threads = [threading.Thread(target=post, args=(n,), daemon=True) for n in share]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    if errors:
        raise CorrectnessError(f"{len(errors)} submissions failed, first: {errors[0]}")
    if len(set(ids)) != jobs:
        raise CorrectnessError(f"expected {jobs} distinct job ids, got {len(set(ids))}")
    return ids


def _total(client: httpx.Client, state: str) -> int:
    response = client.get("/api/jobs", params={"state": state, "page_size": 1})
    response.raise_for_status()
    return int(response.json()["total"])


def _wait_drained(client: httpx.Client) -> tuple[float, int]:
    """Poll until every job is final (or the limit passes); return the seconds waited and the SUCCEEDED count."""
    start = time.monotonic()
    succeeded = 0
    while time.monotonic() - start < DRAIN_LIMIT:
        succeeded = _total(client, "SUCCEEDED")
        if succeeded == JOBS:
            break
        if _total(client, ",".join(FINAL)) >= JOBS:
            # Every job ended; the last may have ended between the two counts: count again.
            succeeded = _total(client, "SUCCEEDED")
            break
        time.sleep(0.25)
    return time.monotonic() - start, succeeded


def _check_database(data: Path, ids: list[int]) -> dict[str, Any]:
    """After the server stopped: states, QUEUED->RUNNING events per job, and the drain span from the timestamps."""
    db.configure(Settings(data_dir=data, database_url=""))
    try:
        with db.get_engine().connect() as conn:
            rows = conn.execute(select(Job.id, Job.state, Job.started_at, Job.finished_at)).all()
            starts = dict(
                conn.execute(
                    select(JobEvent.job_id, func.count())
                    .where(JobEvent.from_state == "QUEUED", JobEvent.to_state == "RUNNING")
                    .group_by(JobEvent.job_id)
                ).all()
            )
    finally:
        db.dispose()
    states = Counter(row.state for row in rows)
    by_id = {row.id: row for row in rows}
    problems: list[str] = []
    missing = [i for i in ids if i not in by_id]
    if missing:
        problems.append(f"{len(missing)} jobs missing from the database (e.g. {missing[:5]})")
    not_succeeded = [i for i in ids if i in by_id and by_id[i].state != "SUCCEEDED"]
    if not_succeeded:
        problems.append(f"{len(not_succeeded)} jobs not SUCCEEDED (states: {dict(states)}; e.g. {not_succeeded[:5]})")
    wrong_starts = {i: starts.get(i, 0) for i in ids if starts.get(i, 0) != 1}
    if wrong_starts:
        sample = dict(list(wrong_starts.items())[:5])
        problems.append(f"{len(wrong_starts)} jobs without exactly one QUEUED->RUNNING event (job: count {sample})")
    started = [by_id[i].started_at for i in ids if i in by_id and by_id[i].started_at is not None]
    finished = [by_id[i].finished_at for i in ids if i in by_id and by_id[i].finished_at is not None]
    if len(started) != len(ids) or len(finished) != len(ids):
        problems.append(f"{len(ids) - len(started)} jobs lack started_at, {len(ids) - len(finished)} lack finished_at")
    span = (max(finished) - min(started)).total_seconds() if started and finished else float("nan")
    return {"states": dict(states), "problems": problems, "span_seconds": span}


def drain_once(isolation: str) -> tuple[dict[str, Any], CpuUse]:
    """Queue JOBS no-op jobs with no slot, restart with SLOTS slots and PORTAL_JOB_ISOLATION=`isolation`, and time
    the drain; every job must succeed exactly once. Also what the machine's CPUs spent meanwhile."""
    settings = {"PORTAL_JOB_ISOLATION": isolation}
    with data_dir(f"{NAME}-{isolation}") as data:
        queued_server = Server(data, worker_slots=0, settings=settings)
        with queued_server:
            token = queued_server.create_token()
            submit_start = time.perf_counter()
            ids = submit_noops(queued_server.base_url, token)
            submit_seconds = time.perf_counter() - submit_start
            with httpx.Client(base_url=queued_server.base_url, headers=auth(token), timeout=30.0) as client:
                queued = _total(client, "QUEUED")
            if queued != JOBS:
                raise CorrectnessError(f"{queued} jobs QUEUED after submission, expected {JOBS}")
        with (
            Server(data, worker_slots=SLOTS, settings=settings) as server,
            httpx.Client(base_url=server.base_url, headers=auth(token), timeout=30.0) as client,
        ):
            protections = client.get("/readyz").json().get("isolation", {})
            with machine_cpu() as cpu:
                waited, succeeded = _wait_drained(client)
            leftover = {state: _total(client, state) for state in ("QUEUED", "RUNNING", "FAILED", "CANCELLED")}
        check = _check_database(data, ids)
        if succeeded != JOBS:
            check["problems"].insert(0, f"{succeeded}/{JOBS} SUCCEEDED after {waited:.0f} s; others: {leftover}")
        if check["problems"]:
            raise CorrectnessError("; ".join(check["problems"]))
    span = float(check["span_seconds"])
    off = sorted(name for name, status in protections.items() if status != "on")
    return {
        "isolation": isolation,
        "protections_off": off,
        "submit_seconds": round(submit_seconds, 3),
        "drain_span_seconds": round(span, 3),
        "jobs_per_second": round(JOBS / span, 1),
        "states": check["states"],
        "cpu": cpu.figures(JOBS),
    }, cpu


def run() -> dict[str, Any]:
    """Run the scenario, print its figures and return them."""
    show(f"[{NAME}] floor: `python -I -S -c pass` on {SLOTS} parallel threads for {FLOOR_SECONDS:.0f} s")
    with machine_cpu() as floor_cpu:
        floor = interpreter_throughput(SLOTS, FLOOR_SECONDS)
    starts = round(floor * floor_cpu.wall_seconds)
    show(f"[{NAME}]   floor {floor:.1f} processes/s; {floor_cpu.describe(starts, 'start')}")
    rounds: list[dict[str, Any]] = []
    protected_cpu: list[CpuUse] = []
    # Every protection on, then relaxed (PORTAL_JOB_ISOLATION=off), alternating so that drift hits both alike.
    for isolation in ROUNDS:
        show(f"[{NAME}] {JOBS} noop jobs queued, then drained by {SLOTS} slots with PORTAL_JOB_ISOLATION={isolation}")
        result, cpu = drain_once(isolation)
        rounds.append(result)
        if isolation == "auto":
            protected_cpu.append(cpu)
        off = ", ".join(result["protections_off"]) or "none"
        show(
            f"[{NAME}]   {result['jobs_per_second']:.1f} jobs/s ({JOBS} in {result['drain_span_seconds']:.2f} s; "
            f"protections off: {off}); {cpu.describe(JOBS)}"
        )
    protected = statistics.median(r["jobs_per_second"] for r in rounds if r["isolation"] == "auto")
    relaxed = statistics.median(r["jobs_per_second"] for r in rounds if r["isolation"] == "off")
    loss = 1 - protected / relaxed
    ratio = protected / floor
    figures: dict[str, Any] = {
        "jobs": JOBS,
        "worker_slots": SLOTS,
        "rounds": rounds,
        "jobs_per_second": round(protected, 1),
        "jobs_per_second_relaxed": round(relaxed, 1),
        "loss_to_protections": round(loss, 3),
        "target_loss_to_protections": MAX_LOSS,
        "floor": {
            "command": "python -I -S -c pass",
            "threads": SLOTS,
            "seconds": FLOOR_SECONDS,
            "processes_per_second": round(floor, 1),
            "cpu": floor_cpu.figures(starts),
        },
        "ratio_to_floor": round(ratio, 3),
        "target_ratio_to_floor": TARGET_RATIO,
        "target_jobs_per_second": TARGET,
        "stretch_jobs_per_second": STRETCH,
        "lost": 0,
        "stuck": 0,
    }
    verdict = "stretch met" if protected >= STRETCH else "target met" if protected >= TARGET else "target missed"
    show(
        f"[{NAME}] every protection on: {protected:.1f} jobs/s (median of {len(rounds) // 2}; target >= "
        f"{TARGET:.0f}, stretch {STRETCH:.0f}: {verdict}); relaxed: {relaxed:.1f} jobs/s"
    )
    show(
        f"[{NAME}] lost to the protections: {loss:.1%} (target <= {MAX_LOSS:.0%}: "
        f"{'met' if loss <= MAX_LOSS else 'missed'})"
    )
    show(f"[{NAME}] ratio jobs/s to floor processes/s: {ratio:.2f} (floor {floor:.1f} processes/s on {SLOTS} threads)")
    cheapest = min(protected_cpu, key=lambda use: use.busy_seconds)
    show(
        f"[{NAME}] {TARGET_RATIO}x the floor with every protection on, against the cheaper round's ceiling: "
        f"{ceiling_verdict(TARGET_RATIO * floor, cheapest, JOBS)}"
    )
    show(f"[{NAME}] checks: every job SUCCEEDED, 0 stuck, each with exactly one QUEUED->RUNNING event")
    show(f"[{NAME}] results in {write_results(NAME, figures)}")
    return figures
