"""Shared helpers for the scenarios: the server subprocess, the floors, statistics and the results file."""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import psycopg
from sqlalchemy import insert, text

from portal.db import session as db
from portal.jobs import counters, usage
from portal.jobs.models import Job
from portal.settings import Settings

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
PORTAL_BIN = Path(sys.executable).parent / "portal"
# The interpreter binary itself, not the venv's shim: the floor every child start is compared with.
REAL_PYTHON = os.path.realpath(sys.executable)
FLOOR_COMMAND = [REAL_PYTHON, "-I", "-S", "-c", "pass"]
# Access logs are off (uvicorn at warning): the scenarios measure the portal, not the terminal it logs to.
SERVER_LOG_LEVEL = "warning"
# A server that accepts CREATE DATABASE; a scenario makes its own database there and drops it afterwards.
POSTGRES_ADMIN_URL = os.environ.get("PORTAL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NOOP_JOB: dict[str, Any] = {"item_id": "noop", "version": "1.0.0", "inputs": {}}


JOB_ITEMS = ("noop", "backup-config", "system-health-check", "user-registration", "example-long-task")
JOB_STATES = ("SUCCEEDED", "FAILED", "CANCELLED", "QUEUED")
JOB_STATE_WEIGHTS = (70, 15, 10, 5)


class CorrectnessError(Exception):
    """A correctness rule was violated (lost, stuck or duplicated jobs): the scenario exits non-zero."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def auth(token: str) -> dict[str, str]:
    """The bearer header for a token."""
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def data_dir(scenario: str) -> Iterator[Path]:
    """A fresh data directory, removed afterwards unless the scenario failed (then its path is printed)."""
    path = Path(tempfile.mkdtemp(prefix=f"portal-bench-{scenario}-"))
    try:
        yield path
    except BaseException:
        print(f"  (data directory and server log kept in {path})", file=sys.stderr)
        raise
    shutil.rmtree(path, ignore_errors=True)


class Server:
    """`portal serve` on a free port of 127.0.0.1 with its own data directory, as a subprocess."""

    def __init__(self, data: Path, worker_slots: int | None = None, settings: dict[str, str] | None = None) -> None:
        self.data = data
        self.worker_slots = worker_slots
        self.settings = settings or {}
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data / "server.log"

    @property
    def env(self) -> dict[str, str]:
        """The environment of the server and of the CLI: inherited, minus any stray `PORTAL_` setting."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        env["PORTAL_DATA_DIR"] = str(self.data)
        # The scenarios submit thousands of jobs as one user: the per-user limit would measure itself.
        env["PORTAL_JOB_SUBMIT_RATE_PER_MINUTE"] = "10000000"
        if self.worker_slots is not None:
            env["PORTAL_WORKER_SLOTS"] = str(self.worker_slots)
        env.update(self.settings)
        return env

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    def start(self, timeout: float = 90.0) -> Server:
        """Start the server and wait until `/readyz` answers 200."""
        self.port = free_port()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(PORTAL_BIN), "serve", "--host", HOST, "--port", str(self.port), "--log-level", SERVER_LOG_LEVEL],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if client.get("/readyz").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        """Terminate the server (SIGTERM), and kill it if it has not exited within `timeout`."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"  warning: the server did not stop within {timeout:.0f} s of SIGTERM; killed", file=sys.stderr)
            process.kill()
            process.wait(timeout=10)

    def create_token(self) -> str:
        """An API token for `admin`, made with the CLI on the same data directory."""
        done = subprocess.run(
            [str(PORTAL_BIN), "tokens", "create", "admin", "--name", "bench"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip().splitlines()[-1]

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextmanager
def postgres_database(scenario: str) -> Iterator[str | None]:
    """A fresh PostgreSQL database for a scenario (its SQLAlchemy URL), or None when no server is reachable."""
    name = f"portal_bench_{scenario}_{os.getpid()}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        show(f"[{scenario}] PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({exc}); its part is skipped")
        yield None
        return
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
            yield f"{base}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- stored jobs ---------------------------------------------------------------------------------------------


def job_rows(rng: random.Random, first: int, count: int, now: datetime, total: int) -> list[dict[str, Any]]:
    """`count` job rows (numbers `first`...), mostly finished, one every 30 s up to `now`, for inserting directly."""
    rows: list[dict[str, Any]] = []
    for n in range(first, first + count):
        state = rng.choices(JOB_STATES, JOB_STATE_WEIGHTS)[0]
        created = now - timedelta(seconds=(total - n) * 30)
        started = created + timedelta(seconds=1) if state in ("SUCCEEDED", "FAILED") else None
        finished = created + timedelta(seconds=3) if state != "QUEUED" else None
        rows.append(
            {
                "kind": "catalog_execution",
                "item_id": rng.choice(JOB_ITEMS),
                "item_version": "1.0.0",
                "bundle_sha256": "0" * 64,
                "entrypoint": "task.py",
                "inputs": {},
                "state": state,
                "priority": 0,
                "queue": "default",
                "created_by": 1,
                "created_by_name": "admin",
                "created_at": created,
                "queued_at": created,
                "started_at": started,
                "finished_at": finished,
                "updated_at": finished or created,
                "progress": 100 if state == "SUCCEEDED" else 0,
                "message": state.lower(),
                "result": {"ok": True} if state == "SUCCEEDED" else None,
                "error": {"type": "RuntimeError", "message": "bench"} if state == "FAILED" else None,
                "attempt": 1,
                "timeout_seconds": 60,
                "resources": {},
                "cancel_requested": False,
                "rev": 1,
            }
        )
    return rows


def insert_jobs(data: Path, batches: Iterable[list[dict[str, Any]]], database_url: str = "") -> None:
    """Insert job rows straight into the database of a stopped server (SQLite in `data` unless a URL is given),
    one transaction per batch; then rebuild the job counters and usage, as `portal admin recount` would."""
    db.configure(Settings(data_dir=data, database_url=database_url))
    try:
        engine = db.get_engine()
        for rows in batches:
            with engine.begin() as conn:
                conn.execute(insert(Job), rows)
        with engine.begin() as conn:
            counters.rebuild(conn)
            usage.rebuild(conn)
        db.refresh_statistics()  # what the portal's statistics duty does on SQLite (a no-op on PostgreSQL)
        if engine.dialect.name == "postgresql":
            # What autovacuum would do by and by: planner statistics, and a visibility map for index-only scans.
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    finally:
        db.dispose()


# --- floors --------------------------------------------------------------------------------------------------


def run_floor_command() -> float:
    """Seconds of one `python -I -S -c pass` run."""
    start = time.perf_counter()
    subprocess.run(FLOOR_COMMAND, check=True, stdin=subprocess.DEVNULL, timeout=30)
    return time.perf_counter() - start


def interpreter_floor(runs: int = 50, warmup: int = 3) -> list[float]:
    """Wall times of `runs` sequential interpreter starts (after `warmup` uncounted ones)."""
    for _ in range(warmup):
        run_floor_command()
    return [run_floor_command() for _ in range(runs)]


def interpreter_throughput(threads: int = 2, seconds: float = 10.0) -> float:
    """Interpreter starts per second with `threads` threads each starting them back to back for `seconds`."""
    counts = [0] * threads
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()

    def loop(index: int) -> None:
        while time.perf_counter() < deadline:
            run_floor_command()
            counts[index] += 1

    workers = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + 60)
    return sum(counts) / (time.perf_counter() - start)


def timed_gets(
    client: httpx.Client, path: str, params: dict[str, Any], requests: int = 200, warmup: int = 5
) -> tuple[list[float], dict[str, Any]]:
    """Seconds of each of `requests` sequential GETs (after `warmup` uncounted ones), and the last body."""
    for _ in range(warmup):
        client.get(path, params=params).raise_for_status()
    times: list[float] = []
    body: dict[str, Any] = {}
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(path, params=params)
        times.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise CorrectnessError(f"GET {path} {params} answered {response.status_code}: {response.text[:300]}")
        body = response.json()
    return times, body


# --- statistics and output -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct` percentile (0-100) with linear interpolation between the closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float) -> float:
    """Seconds to milliseconds, rounded to 0.01 ms."""
    return round(seconds * 1000.0, 2)


def latency_summary(values: Sequence[float]) -> dict[str, float]:
    """Median, p95, mean, min and max in milliseconds."""
    return {
        "median_ms": ms(percentile(values, 50)),
        "p95_ms": ms(percentile(values, 95)),
        "mean_ms": ms(sum(values) / len(values)),
        "min_ms": ms(min(values)),
        "max_ms": ms(max(values)),
    }


def load_average() -> float:
    """The 1-minute load average (other work on the machine skews every figure, floors included)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "load_average_1m": load_average(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "interpreter": REAL_PYTHON,
    }


def show_query_table(
    name: str, results: dict[str, dict[str, Any]], floor_times: Sequence[float], target_p95_ms: float, column: str
) -> tuple[dict[str, float], float]:
    """Print each query's p95 and median with its ratio to the `/healthz` floor (added to `results`) and
    `column`, then the worst p95 against the target; returns the floor's summary and the worst p95."""
    floor = latency_summary(floor_times)
    floor_p95 = floor["p95_ms"]
    show(f"[{name}] floor GET /healthz p95 {floor_p95:.2f} ms (median {floor['median_ms']:.2f} ms)")
    width = max(len(label) for label in results)
    worst = 0.0
    for label, figures in results.items():
        figures["ratio_p95_to_floor"] = round(figures["p95_ms"] / floor_p95, 2)
        worst = max(worst, figures["p95_ms"])
        show(
            f"[{name}]   {label:<{width}} p95 {figures['p95_ms']:7.2f} ms  median {figures['median_ms']:7.2f} ms  "
            f"ratio {figures['ratio_p95_to_floor']:6.2f}  {column} {figures[column]}"
        )
    verdict = "met" if worst < target_p95_ms else "missed"
    show(f"[{name}] worst p95 {worst:.2f} ms (target p95 < {target_p95_ms:.0f} ms: {verdict})")
    return floor, worst


def write_results(scenario: str, figures: dict[str, Any]) -> Path:
    """Write `bench/results/<scenario>.json` and return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{scenario}.json"
    document = {
        "scenario": scenario,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **figures,
    }
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    return path


def show(line: str) -> None:
    """Print one line of a scenario's report, at once."""
    print(line, flush=True)
