"""Distributed mode (Celery on Redis, PostgreSQL, `portal worker` processes) against raw Celery on the same Redis.

- Round trip: 200 sequential no-op jobs posted to an API node and awaited on its `/ws/jobs` WebSocket, run by
  a `portal worker`. Floor: a raw Celery no-op task's round trip (`delay().get()`, Redis result backend) plus
  the subprocess floor (`python -I -S -c pass`), because every portal job runs in a fresh sandboxed process.
- Drain: 5,000 no-op jobs queued while no worker runs, then drained by 2 `portal worker` processes (2 threads
  each). Floor: raw Celery draining 5,000 no-op tasks with 2 worker processes of the same shape. Every job must
  end SUCCEEDED with exactly one QUEUED -> RUNNING event (none lost, stuck or run twice).
- Submit: 32 clients posting no-op jobs (no worker running) to one API node, then the same 32 split over two API
  nodes on the same database and Redis. Floor: the one node. Every answer must be 201 with a distinct id.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from bench import raw_celery, roundtrip, submit
from bench.common import (
    NOOP_JOB,
    PORTAL_BIN,
    CorrectnessError,
    Server,
    auth,
    data_dir,
    interpreter_floor,
    latency_summary,
    ms,
    percentile,
    postgres_database,
    show,
    write_results,
)
from bench.cpu import CpuUse, ceiling_verdict, machine_cpu
from bench.drain import SUBMITTERS, submit_noops
from bench.raw_celery import REDIS_URL

NAME = "distributed"
ITERATIONS = roundtrip.ITERATIONS
WARMUP = roundtrip.WARMUP
DRAIN_JOBS = 5000
WORKERS = 2
THREADS = 2
DRAIN_LIMIT = 600.0
ROUNDTRIP_TARGET = 1.5
DRAIN_TARGET = 0.5
DRAIN_STRETCH = 0.8
SUBMIT_SCALING_TARGET = 1.7
SECRETS_KEY = "h3lY0ZCm1oHvnGmJ7rlt6mDsfGmHgQ7Lqgq8wG8k7xY="


def portal_env(database_url: str, namespace: str) -> dict[str, str]:
    return {
        "PORTAL_EXECUTOR": "celery",
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_REDIS_URL": REDIS_URL,
        "PORTAL_REDIS_NAMESPACE": namespace,
        "PORTAL_SECRETS_KEY": SECRETS_KEY,
        "PORTAL_WORKER_CONCURRENCY": str(THREADS),
        "PORTAL_LOG_LEVEL": "WARNING",
    }


@contextmanager
def processes(commands: list[list[str]], env: dict[str, str], logs: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start the commands (their output in `logs`), and stop them with SIGTERM (then SIGKILL) afterwards."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for index, command in enumerate(commands):
            with (logs / f"process-{len(list(logs.glob('process-*')))}-{index}.log").open("ab") as log:
                procs.append(
                    subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
                )
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _portal_workers(count: int) -> list[list[str]]:
    return [[str(PORTAL_BIN), "worker", "--log-level", "warning"] for _ in range(count)]


def _raw_workers(count: int) -> list[list[str]]:
    return [
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench.raw_celery:app",
            "worker",
            "--pool=threads",
            f"--concurrency={THREADS}",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
            f"--hostname=raw{i}-{os.getpid()}@%h",
        ]
        for i in range(count)
    ]


def _raw_env(namespace: str) -> dict[str, str]:
    return {**os.environ, "PORTAL_BENCH_REDIS_URL": REDIS_URL, "BENCH_RAW_NAMESPACE": namespace}


def clear(namespace: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _raw_roundtrip(logs: Path) -> list[float]:
    namespace = f"rawrt{os.getpid()}"
    app = raw_celery.make_app(namespace)
    try:
        with processes(_raw_workers(1), _raw_env(namespace), logs):
            for _ in range(WARMUP):
                app.send_task("raw.noop", queue=namespace).get(timeout=60)
            times = []
            for _ in range(ITERATIONS):
                start = time.perf_counter()
                app.send_task("raw.noop", queue=namespace).get(timeout=30)
                times.append(time.perf_counter() - start)
            return times
    finally:
        clear(namespace)


def _raw_drain(logs: Path, task: str) -> tuple[float, CpuUse]:
    namespace = f"rawdrain{os.getpid()}"
    app = raw_celery.make_app(namespace)
    counter = redis.Redis.from_url(REDIS_URL)
    try:
        for _ in range(DRAIN_JOBS):
            app.send_task(task, queue=namespace)
        start = time.perf_counter()
        with processes(_raw_workers(WORKERS), _raw_env(namespace), logs), machine_cpu() as cpu:
            deadline = time.monotonic() + DRAIN_LIMIT
            while int(counter.get(raw_celery.counter_key(namespace)) or 0) < DRAIN_JOBS:
                if time.monotonic() > deadline:
                    raise CorrectnessError("raw Celery did not drain its tasks in time")
                time.sleep(0.02)
            seconds = time.perf_counter() - start
        return DRAIN_JOBS / seconds, cpu
    finally:
        counter.close()
        clear(namespace)


def _connect(database_url: str) -> psycopg.Connection[Any]:
    """psycopg on the scenario's database (its URL is SQLAlchemy's)."""
    return psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://", 1))


def _check(database_url: str, ids: list[int]) -> dict[str, Any]:
    with _connect(database_url) as conn:
        states: Counter[str] = Counter(
            dict(conn.execute("SELECT state, count(*) FROM jobs WHERE id = ANY(%s) GROUP BY state", (ids,)).fetchall())
        )
        wrong = conn.execute(
            "SELECT j.id, count(e.id) FROM jobs j LEFT JOIN job_events e ON e.job_id = j.id "
            "AND e.from_state = 'QUEUED' AND e.to_state = 'RUNNING' WHERE j.id = ANY(%s) "
            "GROUP BY j.id HAVING count(e.id) <> 1",
            (ids,),
        ).fetchall()
    problems = []
    if states.get("SUCCEEDED", 0) != len(ids):
        problems.append(f"states {dict(states)}, expected {len(ids)} SUCCEEDED")
    if wrong:
        problems.append(f"{len(wrong)} jobs without exactly one start (e.g. {wrong[:5]})")
    return {"states": dict(states), "problems": problems}


def _succeeded(database_url: str) -> int:
    with _connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM jobs WHERE state IN ('SUCCEEDED', 'FAILED', 'CANCELLED')").fetchone()
    return int(row[0]) if row else 0


def _submit_scaling(server: Server, token: str, data: Path) -> dict[str, Any]:
    """Jobs/s of 32 clients submitting to one API node, then split over two (a second node started here)."""
    (data / "api-2").mkdir()
    with Server(data / "api-2", settings=server.settings) as second:
        one = [httpx.Client(base_url=server.base_url, headers=auth(token), timeout=60.0) for _ in range(submit.CLIENTS)]
        half = submit.CLIENTS // 2
        two = [
            httpx.Client(base_url=node.base_url, headers=auth(token), timeout=60.0)
            for node in [server] * half + [second] * (submit.CLIENTS - half)
        ]
        try:
            for client in one + two:
                client.get("/healthz").raise_for_status()
            rates, p95s, cpus = [], [], []
            for clients in (one, two):
                with machine_cpu() as cpu:
                    wall, latencies, ids = submit._phase(clients, lambda c: c.post("/api/jobs", json=NOOP_JOB), 201)
                cpus.append(cpu)
                if len(set(ids)) != len(ids):
                    raise CorrectnessError(f"{len(ids) - len(set(ids))} job ids answered twice")
                rates.append(len(ids) / wall)
                p95s.append(latency_summary(latencies)["p95_ms"])
        finally:
            for client in one + two:
                client.close()
    ratio = rates[1] / rates[0]
    verdict = "met" if ratio >= SUBMIT_SCALING_TARGET else "missed"
    show(
        f"[{NAME}] submit, {submit.CLIENTS} clients: one API node {rates[0]:.0f} jobs/s (p95 {p95s[0]:.0f} ms), two "
        f"API nodes {rates[1]:.0f} jobs/s (p95 {p95s[1]:.0f} ms): {ratio:.2f}x (target >= {SUBMIT_SCALING_TARGET}: "
        f"{verdict})"
    )
    total = submit.CLIENTS * submit.PER_CLIENT
    show(f"[{NAME}]   one API node: {cpus[0].describe(total)}")
    show(f"[{NAME}]   two API nodes: {cpus[1].describe(total)}")
    show(
        f"[{NAME}]   {SUBMIT_SCALING_TARGET}x one node at one node's CPU cost per job: "
        f"{ceiling_verdict(SUBMIT_SCALING_TARGET * rates[0], cpus[0], total)}"
    )
    return {
        "clients": submit.CLIENTS,
        "one_node_jobs_per_second": round(rates[0], 1),
        "two_nodes_jobs_per_second": round(rates[1], 1),
        "p95_ms": {"one_node": p95s[0], "two_nodes": p95s[1]},
        "ratio": round(ratio, 3),
        "target": SUBMIT_SCALING_TARGET,
        "cpu": {"one_node": cpus[0].figures(total), "two_nodes": cpus[1].figures(total)},
    }


def run() -> dict[str, Any]:
    """Run the scenario, print its figures and return them."""
    figures: dict[str, Any] = {}
    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3) as client:
            client.ping()
    except redis.RedisError as exc:
        show(f"[{NAME}] Redis is not reachable at {REDIS_URL} ({exc}); the scenario is skipped")
        return figures
    with data_dir(NAME) as data:
        logs = data
        show(f"[{NAME}] floor: {ITERATIONS} raw Celery no-op round trips on {REDIS_URL} + `python -I -S -c pass`")
        raw_rt = _raw_roundtrip(logs)
        interpreter = interpreter_floor(50)
        floor = percentile(raw_rt, 50) + percentile(interpreter, 50)
        show(
            f"[{NAME}]   raw Celery median {ms(percentile(raw_rt, 50)):.2f} ms + interpreter "
            f"{ms(percentile(interpreter, 50)):.2f} ms = floor {ms(floor):.2f} ms"
        )
        with postgres_database(NAME) as database_url:
            if database_url is None:
                return figures  # postgres_database said why
            namespace = f"bench{os.getpid()}"
            env = portal_env(database_url, namespace)
            try:
                (data / "api").mkdir()
                with Server(data / "api", settings=env) as server:
                    token = server.create_token()
                    trips: list[roundtrip.Trip] = []
                    with processes(_portal_workers(1), server.env, logs):
                        times, _stream = roundtrip.measure(server, token, NAME, trips)
                    stages = roundtrip.medians(roundtrip.stage_spans(trips, database_url))
                    summary = latency_summary(times)
                    ratio = percentile(times, 50) / floor
                    figures["roundtrip"] = {
                        "round_trip": summary,
                        "raw_celery": latency_summary(raw_rt),
                        "interpreter": latency_summary(interpreter),
                        "floor_median_ms": round(ms(floor), 3),
                        "ratio": round(ratio, 3),
                        "target": ROUNDTRIP_TARGET,
                        "timeline_ms": stages,
                    }
                    verdict = "met" if ratio <= ROUNDTRIP_TARGET else "missed"
                    show(
                        f"[{NAME}] round trip median {summary['median_ms']:.2f} ms, p95 {summary['p95_ms']:.2f} ms: "
                        f"{ratio:.2f}x the floor (target <= {ROUNDTRIP_TARGET}: {verdict})"
                    )
                    roundtrip.show_timeline(NAME, stages)
                    before = _succeeded(database_url)
                    show(f"[{NAME}] submitting {DRAIN_JOBS} no-op jobs with no worker running ({SUBMITTERS} clients)")
                    ids = submit_noops(server.base_url, token, DRAIN_JOBS)
                    show(f"[{NAME}] draining with {WORKERS} `portal worker` processes x {THREADS} threads")
                    start = time.perf_counter()
                    with processes(_portal_workers(WORKERS), server.env, logs), machine_cpu() as drain_cpu:
                        deadline = time.monotonic() + DRAIN_LIMIT
                        while _succeeded(database_url) - before < DRAIN_JOBS:
                            if time.monotonic() > deadline:
                                break
                            time.sleep(0.1)
                        drain_seconds = time.perf_counter() - start
                    check = _check(database_url, ids)
                    figures["submit"] = _submit_scaling(server, token, data)
            finally:
                clear(namespace)
        if check["problems"]:
            raise CorrectnessError("; ".join(check["problems"]))
        portal_rate = DRAIN_JOBS / drain_seconds
        show(f"[{NAME}] portal drained {DRAIN_JOBS} jobs in {drain_seconds:.1f} s: {portal_rate:.0f} jobs/s")
        show(f"[{NAME}] floor: raw Celery draining {DRAIN_JOBS} no-op tasks with {WORKERS} worker processes")
        raw_rate, _ = _raw_drain(logs, "raw.count")
        drain_ratio = portal_rate / raw_rate
        show(f"[{NAME}] second floor: raw Celery tasks that each start `python -I -S -c pass`")
        spawn_rate, spawn_cpu = _raw_drain(logs, "raw.spawn")
        show(f"[{NAME}] third floor, the original portal's shape: raw Celery tasks that each fork a child")
        fork_rate, fork_cpu = _raw_drain(logs, "raw.fork")
        verdict = "stretch met" if drain_ratio >= DRAIN_STRETCH else "met" if drain_ratio >= DRAIN_TARGET else "missed"
        show(
            f"[{NAME}]   raw Celery {raw_rate:.0f} tasks/s; portal/raw {drain_ratio:.2f} "
            f"(target >= {DRAIN_TARGET}, stretch >= {DRAIN_STRETCH}: {verdict}); "
            f"0 lost, 0 stuck, 0 run twice ({check['states']})"
        )
        show(
            f"[{NAME}]   raw Celery + a process per task {spawn_rate:.0f} tasks/s; "
            f"portal/that {portal_rate / spawn_rate:.2f} (target >= 0.8)"
        )
        show(
            f"[{NAME}]   raw Celery + a child forked per task {fork_rate:.0f} tasks/s; "
            f"portal/that {portal_rate / fork_rate:.2f} (target >= 1.0)"
        )
        show(f"[{NAME}]   portal drain: {drain_cpu.describe(DRAIN_JOBS)}")
        show(f"[{NAME}]   a process per task: {spawn_cpu.describe(DRAIN_JOBS, 'task')}")
        show(f"[{NAME}]   a child forked per task: {fork_cpu.describe(DRAIN_JOBS, 'task')}")
        needed = max(0.8 * spawn_rate, fork_rate)
        show(
            f"[{NAME}]   the drain targets (0.8x a process per task, 1.0x a child forked per task): "
            f"{ceiling_verdict(needed, drain_cpu, DRAIN_JOBS)}"
        )
        figures["drain"] = {
            "jobs": DRAIN_JOBS,
            "workers": WORKERS,
            "threads": THREADS,
            "portal_jobs_per_second": round(portal_rate, 1),
            "raw_celery_tasks_per_second": round(raw_rate, 1),
            "ratio": round(drain_ratio, 3),
            "raw_celery_with_process_per_task": round(spawn_rate, 1),
            "ratio_to_process_per_task": round(portal_rate / spawn_rate, 3),
            "raw_celery_with_fork_per_task": round(fork_rate, 1),
            "ratio_to_fork_per_task": round(portal_rate / fork_rate, 3),
            "cpu": drain_cpu.figures(DRAIN_JOBS),
            "cpu_process_per_task": spawn_cpu.figures(DRAIN_JOBS),
            "cpu_fork_per_task": fork_cpu.figures(DRAIN_JOBS),
            "states": check["states"],
        }
    show(f"[{NAME}] results in {write_results(NAME, figures)}")
    return figures
