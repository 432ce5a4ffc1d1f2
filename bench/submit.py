"""Submit: 32 concurrent keep-alive clients posting no-op jobs (acceptance only: no worker slot runs them)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from bench.common import (
    NOOP_JOB,
    CorrectnessError,
    Server,
    auth,
    data_dir,
    latency_summary,
    percentile,
    show,
    write_results,
)
from bench.cpu import ceiling_verdict, machine_cpu

NAME = "submit"
CLIENTS = 32
PER_CLIENT = 100
TARGET = 600.0
TARGET_P95_MS = 50.0
TARGET_RATIO = 0.75  # of the /healthz floor: the target in a ratio that compares across machines

Request = Callable[[httpx.Client], httpx.Response]


def _phase(clients: list[httpx.Client], request: Request, expected: int) -> tuple[float, list[float], list[int]]:
    """Every client sends `PER_CLIENT` requests, all starting together; return wall seconds, latencies, job ids."""
    barrier = threading.Barrier(len(clients) + 1)
    latencies: list[float] = []
    ids: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def work(client: httpx.Client) -> None:
        mine: list[float] = []
        my_ids: list[int] = []
        try:
            barrier.wait(timeout=60)
            for _ in range(PER_CLIENT):
                start = time.perf_counter()
                response = request(client)
                mine.append(time.perf_counter() - start)
                if response.status_code != expected:
                    raise CorrectnessError(
                        f"answered {response.status_code}, expected {expected}: {response.text[:200]}"
                    )
                if expected == 201:
                    my_ids.append(int(response.json()["id"]))
        except Exception as exc:
            with lock:
                errors.append(repr(exc))
        with lock:
            latencies.extend(mine)
            ids.extend(my_ids)

    threads = [threading.Thread(target=work, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    start = time.perf_counter()
    for thread in threads:
        thread.join(timeout=600)
    wall = time.perf_counter() - start
    if errors:
        raise CorrectnessError(f"{len(errors)} clients failed, first: {errors[0]}")
    return wall, latencies, ids


def run() -> dict[str, Any]:
    """Run the scenario, print its figures and return them."""
    total = CLIENTS * PER_CLIENT
    with data_dir(NAME) as data, Server(data, worker_slots=0) as server:
        token = server.create_token()
        clients = [httpx.Client(base_url=server.base_url, headers=auth(token), timeout=60.0) for _ in range(CLIENTS)]
        try:
            for client in clients:  # open each keep-alive connection before measuring
                client.get("/healthz").raise_for_status()
            show(f"[{NAME}] floor: {CLIENTS} clients x {PER_CLIENT} GET /healthz")
            floor_wall, floor_lat, _ = _phase(clients, lambda c: c.get("/healthz"), 200)
            show(
                f"[{NAME}] {CLIENTS} clients x {PER_CLIENT} POST /api/jobs (noop) with PORTAL_WORKER_SLOTS=0: "
                "acceptance only, no job runs"
            )
            with machine_cpu() as cpu:
                wall, latencies, ids = _phase(clients, lambda c: c.post("/api/jobs", json=NOOP_JOB), 201)
            queued = clients[0].get("/api/jobs", params={"state": "QUEUED", "page_size": 1}).json()["total"]
        finally:
            for client in clients:
                client.close()
    if len(set(ids)) != total or queued != total:
        raise CorrectnessError(f"{len(set(ids))} distinct ids and {queued} QUEUED jobs, expected {total}")
    floor_rate = total / floor_wall
    rate = total / wall
    summary = latency_summary(latencies)
    floor_summary = latency_summary(floor_lat)
    ratio = rate / floor_rate
    figures: dict[str, Any] = {
        "clients": CLIENTS,
        "requests_per_client": PER_CLIENT,
        "worker_slots": 0,
        "note": "acceptance only: PORTAL_WORKER_SLOTS=0, no job runs",
        "accepted_jobs_per_second": round(rate, 1),
        "submit_wall_seconds": round(wall, 3),
        "latency": summary,
        "floor": {
            "request": "GET /healthz",
            "requests_per_second": round(floor_rate, 1),
            "wall_seconds": round(floor_wall, 3),
            "latency": floor_summary,
        },
        "ratio_to_floor": round(ratio, 3),
        "target_jobs_per_second": TARGET,
        "target_p95_ms": TARGET_P95_MS,
        "target_ratio_to_floor": TARGET_RATIO,
        "cpu": cpu.figures(total),
    }
    met = rate >= TARGET and percentile(latencies, 95) * 1000 < TARGET_P95_MS
    show(
        f"[{NAME}] accepted {total} jobs in {wall:.2f} s: {rate:.1f} jobs/s, p50 {summary['median_ms']:.2f} ms, "
        f"p95 {summary['p95_ms']:.2f} ms (target >= {TARGET:.0f} jobs/s with p95 < {TARGET_P95_MS:.0f} ms: "
        f"{'met' if met else 'missed'})"
    )
    show(
        f"[{NAME}] floor GET /healthz: {floor_rate:.1f} requests/s, p50 {floor_summary['median_ms']:.2f} ms, "
        f"p95 {floor_summary['p95_ms']:.2f} ms"
    )
    show(f"[{NAME}] ratio jobs/s to floor requests/s: {ratio:.2f}")
    needed = max(TARGET, TARGET_RATIO * floor_rate)
    show(f"[{NAME}] {cpu.describe(total)}; {TARGET_RATIO}x the floor: {ceiling_verdict(needed, cpu, total)}")
    show(f"[{NAME}] checks: all {total} answers 201, {total} distinct ids, {queued} jobs QUEUED")
    show(f"[{NAME}] results in {write_results(NAME, figures)}")
    return figures
