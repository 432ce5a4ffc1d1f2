"""Running: 1,000 jobs at once, each sleeping 60 s (`bench/items/sleeper`), on the embedded executor with as many
slots, then on 2 `portal worker` processes with 500 threads each (PostgreSQL and Redis; skipped without them),
with every protection the machine allows. Measures how long until all run, the memory each running job
costs (the unique memory of its processes, plus its share of what the portal and its zygote grew by), and the
p95 of `GET /api/jobs` and `GET /api/jobs/{id}` while they all run, against the same requests on the idle server.

Correct when every job reaches RUNNING, then SUCCEEDED, each with exactly one QUEUED -> RUNNING event.
"""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import redis

from bench import distributed
from bench.common import (
    BENCH_DIR,
    PORTAL_BIN,
    CorrectnessError,
    Server,
    auth,
    data_dir,
    latency_summary,
    postgres_database,
    show,
    write_results,
)
from bench.raw_celery import REDIS_URL

NAME = "running"
JOBS = int(os.environ.get("PORTAL_BENCH_RUNNING_JOBS", "1000"))
SLEEP_SECONDS = 60
REQUESTS = 100
TARGET_P95_MS = 200.0
SUBMITTERS = 8
DISTRIBUTED_WORKERS = 2
SETTINGS = {"PORTAL_JOB_SUBMIT_RATE_PER_MINUTE": "10000000"}


def _children_of() -> dict[int, list[int]]:
    """Each process's children, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    return children


def _tree(root: int, children: dict[int, list[int]]) -> list[int]:
    """`root` and every process below it (`children`: from one reading of /proc)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _uss_kib(pid: int) -> int:
    """The memory only this process holds (private clean + private dirty), in KiB; 0 once it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    return sum(
        int(line.split()[1]) for line in text.splitlines() if line.startswith(("Private_Clean", "Private_Dirty"))
    )


def _timed(client: httpx.Client, paths: list[str]) -> list[float]:
    times = []
    for path in paths:
        start = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise CorrectnessError(f"GET {path} answered {response.status_code}: {response.text[:200]}")
    return times


def _probe_paths(ids: list[int], rng: random.Random) -> dict[str, list[str]]:
    return {
        "GET /api/jobs": ["/api/jobs"] * REQUESTS,
        "GET /api/jobs/{id}": [f"/api/jobs/{rng.choice(ids)}" for _ in range(REQUESTS)],
    }


def _submit(client_of: Any, count: int, seconds: float = SLEEP_SECONDS) -> list[int]:
    """`count` sleeper jobs from SUBMITTERS clients at once."""
    ids: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def work(share: int) -> None:
        with client_of() as client:
            for _ in range(share):
                response = client.post("/api/jobs", json={"item_id": "sleeper", "inputs": {"seconds": seconds}})
                with lock:
                    if response.status_code != 201:
                        errors.append(f"{response.status_code}: {response.text[:200]}")
                    else:
                        ids.append(int(response.json()["id"]))

    shares = [count // SUBMITTERS + (1 if n < count % SUBMITTERS else 0) for n in range(SUBMITTERS)]
    threads = [threading.Thread(target=work, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise CorrectnessError(f"{len(errors)} submissions refused, first: {errors[0]}")
    return ids


def _count(client: httpx.Client, state: str) -> int:
    total: int = client.get("/api/jobs", params={"state": state, "item_id": "sleeper", "page_size": 1}).json()["total"]
    return total


def _check_each(client: httpx.Client, ids: list[int]) -> None:
    """Every job SUCCEEDED, started once."""
    for job_id in ids:
        job = client.get(f"/api/jobs/{job_id}").json()
        starts = [e for e in job["events"] if e["kind"] == "state" and e["to_state"] == "RUNNING"]
        if job["state"] != "SUCCEEDED" or len(starts) != 1:
            raise CorrectnessError(f"job {job_id} ended {job['state']} after {len(starts)} start(s): {job['error']}")


def _processes(roots: list[int]) -> list[int]:
    """The roots and every process below them."""
    children = _children_of()
    return [pid for root in roots for pid in _tree(root, children)]


def _memory_of(roots: list[int]) -> tuple[int, int, int]:
    """(processes, KiB of unique memory of the roots and everything below them, KiB of the roots alone)."""
    pids = _processes(roots)
    return len(pids), sum(_uss_kib(pid) for pid in pids), sum(_uss_kib(root) for root in roots)


def _measure(label: str, client_of: Callable[[], httpx.Client], roots: list[int]) -> dict[str, Any]:
    """Submit JOBS sleepers, wait until all run, measure memory over the process trees of `roots` and the
    requests' p95 while they run, then wait for every one to succeed."""
    rng = random.Random(7)
    name = f"{NAME}, {label}"
    with client_of() as client:
        # A few short ones first, so the idle figures see stored jobs and a warm zygote.
        warm = _submit(client_of, 20, seconds=0)
        while _count(client, "SUCCEEDED") < len(warm):
            time.sleep(0.2)
        idle = {probe: _timed(client, paths) for probe, paths in _probe_paths(warm, rng).items()}
        idle_processes, idle_kib, idle_roots_kib = _memory_of(roots)
        show(f"[{name}] idle: {idle_processes} processes, {idle_kib / 1024:.0f} MiB unique memory")
        show(f"[{name}] submitting {JOBS} sleeper jobs ({SLEEP_SECONDS} s each) from {SUBMITTERS} clients")
        started = time.monotonic()
        ids = _submit(client_of, JOBS)
        submitted = time.monotonic() - started
        deadline = started + SLEEP_SECONDS * 0.8
        running = 0
        while time.monotonic() < deadline:
            running = _count(client, "RUNNING")
            if running >= JOBS:
                break
            time.sleep(0.5)
        # RUNNING is stored when a job is claimed; its process comes a moment later. Memory is measured once
        # every job has its own.
        while time.monotonic() < deadline and len(_processes(roots)) < idle_processes + running:
            time.sleep(0.5)
        all_running = time.monotonic() - started
        if running < JOBS:
            raise CorrectnessError(f"only {running} of {JOBS} jobs RUNNING after {all_running:.0f} s ({label})")
        processes, busy_kib, busy_roots_kib = _memory_of(roots)
        if processes < idle_processes + JOBS:
            raise CorrectnessError(f"{processes - idle_processes} job processes for {JOBS} RUNNING jobs ({label})")
        per_job_kib = (busy_kib - idle_kib) / JOBS
        roots_share_kib = (busy_roots_kib - idle_roots_kib) / JOBS
        show(
            f"[{name}] all {JOBS} RUNNING, each in its own process, {all_running:.1f} s after the first submission "
            "(submitted in "
            f"{submitted:.1f} s): {processes} processes, {busy_kib / 1024:.0f} MiB unique memory, "
            f"{per_job_kib / 1024:.2f} MiB per running job ({roots_share_kib / 1024:.2f} MiB of it in the "
            "process that runs jobs, the rest the job's own processes and the zygote)"
        )
        busy = {probe: _timed(client, paths) for probe, paths in _probe_paths(ids, rng).items()}
        still_running = _count(client, "RUNNING")
        if still_running < JOBS:
            raise CorrectnessError(f"the probes outlasted the jobs ({still_running} still RUNNING): too slow")
        finish_by = started + SLEEP_SECONDS + 180
        while time.monotonic() < finish_by and _count(client, "SUCCEEDED") < JOBS + len(warm):
            time.sleep(1.0)
        _check_each(client, ids)
    figures: dict[str, Any] = {
        "jobs": JOBS,
        "sleep_seconds": SLEEP_SECONDS,
        "submitted_seconds": round(submitted, 2),
        "all_running_seconds": round(all_running, 2),
        "processes_idle": idle_processes,
        "processes_running": processes,
        "unique_memory_idle_mib": round(idle_kib / 1024, 1),
        "unique_memory_running_mib": round(busy_kib / 1024, 1),
        "memory_per_running_job_mib": round(per_job_kib / 1024, 3),
        "runner_process_share_per_job_mib": round(roots_share_kib / 1024, 3),
        "requests": {},
    }
    for probe in idle:
        floor, loaded = latency_summary(idle[probe]), latency_summary(busy[probe])
        ratio = loaded["p95_ms"] / floor["p95_ms"]
        verdict = "met" if loaded["p95_ms"] < TARGET_P95_MS else "missed"
        figures["requests"][probe] = {"idle": floor, "running": loaded, "ratio_p95": round(ratio, 2)}
        show(
            f"[{name}] {probe}: p95 {loaded['p95_ms']:.1f} ms with {JOBS} running (median {loaded['median_ms']:.1f}), "
            f"idle p95 {floor['p95_ms']:.1f} ms: ratio {ratio:.2f} (target p95 < {TARGET_P95_MS:.0f} ms: {verdict})"
        )
    show(f"[{name}] checks: all {JOBS} RUNNING at once, then SUCCEEDED, each started once")
    return figures


def _import_items(server: Server) -> None:
    subprocess.run(
        [str(PORTAL_BIN), "catalog", "import-local", str(BENCH_DIR / "items")],
        env=server.env,
        check=True,
        capture_output=True,
    )


def _embedded() -> dict[str, Any]:
    with data_dir(NAME) as data, Server(data, worker_slots=JOBS, settings=SETTINGS) as server:
        _import_items(server)
        token = server.create_token()
        assert server.process is not None

        def client_of() -> httpx.Client:
            return httpx.Client(base_url=server.base_url, headers=auth(token), timeout=120.0)

        return _measure("embedded", client_of, [server.process.pid])


def _distributed() -> dict[str, Any] | None:
    """The same on one API node and DISTRIBUTED_WORKERS `portal worker` processes with enough threads."""
    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3) as probe:
            probe.ping()
    except redis.RedisError as exc:
        show(f"[{NAME}] Redis is not reachable at {REDIS_URL} ({exc}); the distributed part is skipped")
        return None
    threads = -(-JOBS // DISTRIBUTED_WORKERS)
    with data_dir(f"{NAME}-distributed") as data, postgres_database(f"{NAME}_distributed") as database_url:
        if database_url is None:
            return None
        namespace = f"benchrunning{os.getpid()}"
        env = {**distributed.portal_env(database_url, namespace), **SETTINGS, "PORTAL_WORKER_CONCURRENCY": str(threads)}
        try:
            (data / "api").mkdir()
            with Server(data / "api", settings=env) as server:
                _import_items(server)
                token = server.create_token()
                workers = [[str(PORTAL_BIN), "worker", "--log-level", "warning"]] * DISTRIBUTED_WORKERS
                with distributed.processes(workers, server.env, data) as procs:

                    def client_of() -> httpx.Client:
                        return httpx.Client(base_url=server.base_url, headers=auth(token), timeout=120.0)

                    label = f"distributed, {DISTRIBUTED_WORKERS} workers x {threads} threads"
                    return _measure(label, client_of, [proc.pid for proc in procs])
        finally:
            distributed.clear(namespace)


def run() -> dict[str, Any]:
    """Run the scenario, embedded then distributed, print its figures and return them."""
    figures: dict[str, Any] = {"embedded": _embedded()}
    spread = _distributed()
    if spread is not None:
        figures["distributed"] = spread
    show(f"[{NAME}] results in {write_results(NAME, figures)}")
    return figures
