"""Round trip: submit a no-op job and wait on the WebSocket for its SUCCEEDED update, sequentially."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import create_engine, select
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
from portal.jobs.models import Job
from portal.settings import Settings

NAME = "roundtrip"
ITERATIONS = 200
WARMUP = 10
FLOOR_RUNS = 50
JOB_TIMEOUT = 30.0
TARGET_RATIO = 1.0  # with every protection of the job sandbox on
STRETCH_RATIO = 0.6


@dataclass(frozen=True)
class Trip:
    """One round trip on the wall clock (`time.time()`, comparable with the job's stored timestamps)."""

    job_id: int
    posted: float
    answered: float
    done: float


class JobStream:
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


def one_round_trip(client: httpx.Client, stream: JobStream, trips: list[Trip] | None = None) -> float:
    """Seconds from POSTing a no-op job to its SUCCEEDED update on the stream (also appended to `trips`)."""
    posted = time.time()
    start = time.perf_counter()
    response = client.post("/api/jobs", json=NOOP_JOB)
    answered = time.time()
    if response.status_code != 201:
        raise CorrectnessError(f"POST /api/jobs answered {response.status_code}: {response.text[:300]}")
    job_id = int(response.json()["id"])
    stream.wait_for(job_id, JOB_TIMEOUT)
    seconds = time.perf_counter() - start
    if trips is not None:
        trips.append(Trip(job_id, posted, answered, time.time()))
    return seconds


def measure(server: Server, token: str, what: str, trips: list[Trip] | None = None) -> tuple[list[float], JobStream]:
    """`WARMUP` uncounted, then `ITERATIONS` timed round trips against a running server, one WebSocket for all
    (the timed ones also in `trips`)."""
    with (
        httpx.Client(base_url=server.base_url, headers=auth(token), timeout=30.0) as client,
        connect(f"{server.ws_url}/ws/jobs", additional_headers=auth(token), open_timeout=10) as ws,
    ):
        stream = JobStream(ws)
        show(f"[{what}] {WARMUP} warm-up + {ITERATIONS} measured round trips (POST, then wait on /ws/jobs)")
        for _ in range(WARMUP):
            one_round_trip(client, stream)
        times = [one_round_trip(client, stream, trips) for _ in range(ITERATIONS)]
    if stream.duplicates:
        raise CorrectnessError(f"{stream.duplicates} job.updated messages were delivered twice")
    return times, stream


# Where a round trip's time goes: the client's clock around the job's own stored times (one machine, one clock).
STAGES = (
    "POST to the job stored",
    "stored to the 201",
    "stored to started",
    "the run, started to finished",
    "finished to SUCCEEDED on the WebSocket",
)
StoredTimes = Mapping[int, tuple[datetime, datetime, datetime]]


def _epoch(at: datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def stage_spans(trips: list[Trip], database_url: str) -> dict[str, list[float]]:
    """The seconds each trip spent in each of STAGES, against its job's times in the database at `database_url`."""
    stored = _stored_times(database_url, trips)
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    for trip in trips:
        created, started, finished = (_epoch(at) for at in stored[trip.job_id])
        spans = (created - trip.posted, trip.answered - created, started - created, finished - started)
        for name, seconds in zip(STAGES, (*spans, trip.done - finished), strict=True):
            stages[name].append(seconds)
    return stages


def medians(stages: Mapping[str, list[float]]) -> dict[str, float]:
    """The median milliseconds of each stage."""
    return {name: round(ms(percentile(values, 50)), 2) for name, values in stages.items()}


def show_timeline(name: str, stages: Mapping[str, float]) -> None:
    """Print a timeline as one line."""
    show(
        f"[{name}]   where it goes (medians): "
        + "; ".join(f"{stage} {value:.2f} ms" for stage, value in stages.items())
    )


def _stored_times(database_url: str, trips: list[Trip]) -> StoredTimes:
    """The trips' jobs' created, started and finished times as the database at `database_url` holds them."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Job.id, Job.created_at, Job.started_at, Job.finished_at).where(
                    Job.id.in_([trip.job_id for trip in trips])
                )
            ).all()
    finally:
        engine.dispose()
    return {row.id: (row.created_at, row.started_at, row.finished_at) for row in rows}


def run() -> dict[str, Any]:
    """Run the scenario, print its figures and return them."""
    show(f"[{NAME}] floor: {FLOOR_RUNS} sequential runs of `python -I -S -c pass`")
    floor_runs = interpreter_floor(FLOOR_RUNS)
    floor = percentile(floor_runs, 50)
    show(f"[{NAME}]   floor median {ms(floor):.2f} ms")
    times: dict[str, list[float]] = {"auto": [], "off": []}
    spans: dict[str, dict[str, list[float]]] = {"auto": {}, "off": {}}
    messages = stale = 0
    # Every protection on (auto), then relaxed (off), alternating so that drift hits both alike.
    for isolation in ("auto", "off", "auto", "off"):
        round_trips: list[Trip] = []
        with data_dir(f"{NAME}-{isolation}") as data:
            with Server(data, settings={"PORTAL_JOB_ISOLATION": isolation}) as server:
                what = f"{NAME}, PORTAL_JOB_ISOLATION={isolation}"
                measured, stream = measure(server, server.create_token(), what, round_trips)
            database_url = Settings(data_dir=data, database_url="").resolved_database_url
            for stage, values in stage_spans(round_trips, database_url).items():
                spans[isolation].setdefault(stage, []).extend(values)
        times[isolation] += measured
        messages += stream.messages
        stale += stream.stale
    summary = latency_summary(times["auto"])
    relaxed = latency_summary(times["off"])
    ratio = percentile(times["auto"], 50) / floor
    overhead = percentile(times["auto"], 50) - percentile(times["off"], 50)
    figures: dict[str, Any] = {
        "iterations": ITERATIONS * 2,
        "warmup": WARMUP,
        "floor": {"command": "python -I -S -c pass", "runs": FLOOR_RUNS, **latency_summary(floor_runs)},
        "round_trip": summary,
        "round_trip_relaxed": relaxed,
        "protections_ms": round(ms(overhead), 3),
        "ratio_median_to_floor": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "stretch_ratio": STRETCH_RATIO,
        "websocket": {"job_updates": messages, "duplicates": 0, "stale_revs": stale},
        "timeline_ms": {isolation: medians(stages) for isolation, stages in spans.items()},
    }
    verdict = "stretch met" if ratio <= STRETCH_RATIO else "target met" if ratio <= TARGET_RATIO else "target missed"
    show(
        f"[{NAME}] every protection on: median {summary['median_ms']:.2f} ms, p95 {summary['p95_ms']:.2f} ms "
        f"(min {summary['min_ms']:.2f}, max {summary['max_ms']:.2f}); relaxed: median {relaxed['median_ms']:.2f} ms"
    )
    show(f"[{NAME}] the protections cost {ms(overhead):.2f} ms per round trip")
    show_timeline(NAME, medians(spans["auto"]))
    show(
        f"[{NAME}] ratio median/floor {ratio:.2f} (floor {ms(floor):.2f} ms; target <= {TARGET_RATIO}, "
        f"stretch <= {STRETCH_RATIO}: {verdict})"
    )
    show(f"[{NAME}] websocket: {messages} job updates, 0 duplicates, {stale} stale revs")
    show(f"[{NAME}] results in {write_results(NAME, figures)}")
    return figures
