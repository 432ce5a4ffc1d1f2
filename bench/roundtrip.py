"""Round trip: submit a no-op job and wait on the WebSocket for its SUCCEEDED update, sequentially."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from bench.common import (
    NOOP_JOB,
    CorrectnessError,
    Server,
    auth,
    data_dir,
    interpreter_floor,
    latency_summary,
    ms,
    percentile,
    show,
    write_results,
)

NAME = "roundtrip"
ITERATIONS = 200
WARMUP = 10
FLOOR_RUNS = 50
JOB_TIMEOUT = 30.0
TARGET_RATIO = 1.5
STRETCH_RATIO = 0.6


class _Stream:
    """The `/ws/jobs` stream, checking that no (job, rev) update is delivered twice."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: set[tuple[int, int]] = set()
        self.duplicates = 0
        self.stale = 0
        self.latest: dict[int, int] = {}
        self.messages = 0

    def wait_for(self, job_id: int, timeout: float) -> dict[str, Any]:
        """Read messages until the job reaches a final state; return that job."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CorrectnessError(f"job {job_id}: no final state on the WebSocket within {timeout:.0f} s")
            try:
                raw = self.ws.recv(timeout=remaining)
            except TimeoutError:
                continue
            message = json.loads(raw)
            if message.get("type") != "job.updated":
                continue
            self.messages += 1
            job: dict[str, Any] = message["job"]
            key = (int(job["id"]), int(message["rev"]))
            if key in self.seen:
                self.duplicates += 1
            self.seen.add(key)
            if key[1] < self.latest.get(key[0], 0):
                self.stale += 1
            self.latest[key[0]] = max(key[1], self.latest.get(key[0], 0))
            if key[0] != job_id:
                continue
            if job["state"] in ("FAILED", "CANCELLED"):
                raise CorrectnessError(f"job {job_id} ended {job['state']}: {job.get('message')!r}")
            if job["state"] == "SUCCEEDED":
                return job


def _one(client: httpx.Client, stream: _Stream) -> float:
    start = time.perf_counter()
    response = client.post("/api/jobs", json=NOOP_JOB)
    if response.status_code != 201:
        raise CorrectnessError(f"POST /api/jobs answered {response.status_code}: {response.text[:300]}")
    stream.wait_for(int(response.json()["id"]), JOB_TIMEOUT)
    return time.perf_counter() - start


def measure(server: Server, token: str, what: str) -> tuple[list[float], _Stream]:
    """`WARMUP` uncounted, then `ITERATIONS` timed round trips against a running server, one WebSocket for all."""
    with (
        httpx.Client(base_url=server.base_url, headers=auth(token), timeout=30.0) as client,
        connect(f"{server.ws_url}/ws/jobs", additional_headers=auth(token), open_timeout=10) as ws,
    ):
        stream = _Stream(ws)
        show(f"[{what}] {WARMUP} warm-up + {ITERATIONS} measured round trips (POST, then wait on /ws/jobs)")
        for _ in range(WARMUP):
            _one(client, stream)
        times = [_one(client, stream) for _ in range(ITERATIONS)]
    if stream.duplicates:
        raise CorrectnessError(f"{stream.duplicates} job.updated messages were delivered twice")
    return times, stream


def run() -> dict[str, Any]:
    """Run the scenario, print its figures and return them."""
    show(f"[{NAME}] floor: {FLOOR_RUNS} sequential runs of `python -I -S -c pass`")
    floor_runs = interpreter_floor(FLOOR_RUNS)
    floor = percentile(floor_runs, 50)
    show(f"[{NAME}]   floor median {ms(floor):.2f} ms")
    with data_dir(NAME) as data, Server(data) as server:
        times, stream = measure(server, server.create_token(), NAME)
    summary = latency_summary(times)
    ratio = percentile(times, 50) / floor
    figures: dict[str, Any] = {
        "iterations": ITERATIONS,
        "warmup": WARMUP,
        "floor": {"command": "python -I -S -c pass", "runs": FLOOR_RUNS, **latency_summary(floor_runs)},
        "round_trip": summary,
        "ratio_median_to_floor": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "stretch_ratio": STRETCH_RATIO,
        "websocket": {"job_updates": stream.messages, "duplicates": stream.duplicates, "stale_revs": stream.stale},
    }
    verdict = "stretch met" if ratio <= STRETCH_RATIO else "target met" if ratio <= TARGET_RATIO else "target missed"
    show(
        f"[{NAME}] round trip median {summary['median_ms']:.2f} ms, p95 {summary['p95_ms']:.2f} ms "
        f"(min {summary['min_ms']:.2f}, max {summary['max_ms']:.2f})"
    )
    show(
        f"[{NAME}] ratio median/floor {ratio:.2f} (floor {ms(floor):.2f} ms; target <= {TARGET_RATIO}, "
        f"stretch <= {STRETCH_RATIO}: {verdict})"
    )
    show(f"[{NAME}] websocket: {stream.messages} job updates, 0 duplicates, {stream.stale} stale revs")
    show(f"[{NAME}] results in {write_results(NAME, figures)}")
    return figures
