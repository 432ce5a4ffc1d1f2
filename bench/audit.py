"""Audit: `GET /api/admin/audit` filtered and keyset-paged with 1,000,000 entries stored, plus facets and an export."""

from __future__ import annotations

import random
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from bench.common import (
    CorrectnessError,
    Server,
    auth,
    data_dir,
    latency_summary,
    ms,
    show,
    show_query_table,
    timed_gets,
    write_results,
)
from portal.audit.models import AuditEntry
from portal.db import session as db
from portal.settings import Settings

NAME = "audit"
ENTRIES = 1_000_000
BATCH = 10_000
DAYS = 365
REQUESTS = 200
WARMUP = 5
CHECKED_PAGES = 3
TARGET_P95_MS = 50.0
RARE_ACTOR = "auditor"
RARE_ACTOR_ENTRIES = 20
USERS = [f"user{i:03d}" for i in range(1, 301)]
ACTORS = ["admin", "ops-bot", "ci-bot", *USERS]
ACTOR_WEIGHTS = [8.0, 6.0, 6.0, *(40.0 / rank for rank in range(1, len(USERS) + 1))]
# action, weight, target type
ACTIONS: list[tuple[str, float, str]] = [
    ("job.create", 40, "job"),
    ("job.cancel", 4, "job"),
    ("job.retry", 3, "job"),
    ("auth.login", 18, "user"),
    ("auth.logout", 12, "user"),
    ("auth.login_failed", 3, "user"),
    ("catalog.import", 3, "item_version"),
    ("catalog.import_requested", 2, "job"),
    ("catalog.replace", 0.5, "item_version"),
    ("token.create", 1, "token"),
    ("token.revoke", 0.5, "token"),
    ("user.create", 0.2, "user"),
]
ITEMS = ("backup-config", "system-health-check", "user-registration", "noop", "example-long-task")
IPS = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(60)]


def _details(rng: random.Random, action: str, job_id: int, actor: str) -> dict[str, Any]:
    """Details shaped like the real ones (a change carries before and after)."""
    if action == "job.create":
        return {"item_id": rng.choice(ITEMS), "version": "1.0.0"}
    if action == "job.cancel":
        return {"state": rng.choice(("QUEUED", "RUNNING"))}
    if action == "job.retry":
        return {"new_job_id": job_id + 1}
    if action.startswith("catalog."):
        sha = f"{rng.getrandbits(256):064x}"
        details: dict[str, Any] = {"source": {"type": "git", "path": "items/x"}, "bundle_sha256": sha}
        if action == "catalog.replace":
            details = {
                "source": details["source"],
                "before": {"bundle_sha256": sha[::-1]},
                "after": {"bundle_sha256": sha},
            }
        return details
    if action.startswith("token."):
        return {"user": actor, "name": "automation"}
    if action == "user.create":
        return {"role": "requester"}
    return {}


def _batches(now: datetime) -> Iterator[list[dict[str, Any]]]:
    """ENTRIES rows over the last DAYS days, oldest first, one every ~30 s; the rare actor's spread evenly."""
    rng = random.Random(20_261_122)
    step = timedelta(days=DAYS) / ENTRIES
    start = now - timedelta(days=DAYS)
    rare_every = ENTRIES // RARE_ACTOR_ENTRIES
    job_id = 0
    weights = [weight for _, weight, _ in ACTIONS]
    for first in range(0, ENTRIES, BATCH):
        actors = rng.choices(ACTORS, ACTOR_WEIGHTS, k=BATCH)
        actions = rng.choices(ACTIONS, weights, k=BATCH)
        rows: list[dict[str, Any]] = []
        for n, actor, (action, _, target_type) in zip(range(first, first + BATCH), actors, actions, strict=True):
            if n % rare_every == rare_every // 2:
                rows.append(_rare_entry(start + step * n, rng))
                continue
            if action in ("job.create", "catalog.import_requested"):
                job_id += 1
            if target_type == "job":
                target_id = str(job_id if action == "job.create" else max(1, job_id - rng.randrange(50)))
            elif target_type == "user":
                target_id = actor if action.startswith("auth.") else rng.choice(USERS)
            elif target_type == "token":
                target_id = str(rng.randrange(1, 20_000))
            else:
                target_id = f"{rng.choice(ITEMS)}@1.{rng.randrange(30)}.0"
            rows.append(
                {
                    "at": start + step * n,
                    "actor_id": None,
                    "actor_name": actor,
                    "action": action,
                    "target_type": target_type,
                    "target_id": target_id,
                    "details": _details(rng, action, job_id, actor),
                    "ip": rng.choice(IPS),
                    "request_id": uuid.UUID(int=rng.getrandbits(128)).hex,
                }
            )
        yield rows


def _rare_entry(at: datetime, rng: random.Random) -> dict[str, Any]:
    """An export by the actor that almost never acts."""
    return {
        "at": at,
        "actor_id": None,
        "actor_name": RARE_ACTOR,
        "action": "audit.export",
        "target_type": None,
        "target_id": None,
        "details": {"format": "csv", "filters": {}},
        "ip": rng.choice(IPS),
        "request_id": uuid.UUID(int=rng.getrandbits(128)).hex,
    }


def _populate(data: Path, now: datetime) -> None:
    """Insert the entries straight into the SQLite database of a stopped server, one transaction per batch."""
    db.configure(Settings(data_dir=data, database_url=""))
    try:
        engine = db.get_engine()
        for rows in _batches(now):
            with engine.begin() as conn:
                conn.execute(insert(AuditEntry.__table__), rows)  # type: ignore[arg-type]
    finally:
        db.dispose()


def _stored(at: str) -> str:
    """An ISO 8601 time as SQLite stores it (for the oracle's plain SQL)."""
    return datetime.fromisoformat(at).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _oracle(database: Path, params: dict[str, Any], down_to: int | None = None) -> list[int]:
    """The ids a query lists (all, or those at or above entry `down_to`), by plain SQL on the database file."""
    where: list[str] = []
    args: list[Any] = []
    for param, column in (
        ("actor", "actor_name"),
        ("action", "action"),
        ("target_type", "target_type"),
        ("target_id", "target_id"),
    ):
        if param in params:
            where.append(f"{column} = ?")
            args.append(params[param])
    if "action_prefix" in params:
        where.append("substr(action, 1, ?) = ?")
        args += [len(params["action_prefix"]), params["action_prefix"]]
    if "since" in params:
        where.append("at >= ?")
        args.append(_stored(params["since"]))
    if "until" in params:
        where.append("at < ?")
        args.append(_stored(params["until"]))
    for bound, entry_id in (("<", params.get("before_id")), (">=", down_to)):
        if entry_id is not None:
            where.append(f"(at, id) {bound} (SELECT at, id FROM audit_log WHERE id = ?)")
            args.append(entry_id)
    sql = f"SELECT id FROM audit_log WHERE {' AND '.join(where) or '1'} ORDER BY at DESC, id DESC"
    with sqlite3.connect(database) as conn:
        return [row[0] for row in conn.execute(sql, args)]


def _check_pages(client: httpx.Client, database: Path, label: str, params: dict[str, Any]) -> list[str]:
    """Follow `next_before_id` for a few pages: together they must list exactly what plain SQL finds in the range
    they cover (down to the last `next_before_id`, or everything when the pages ended)."""
    seen: list[int] = []
    cursor: int | None = params.get("before_id")
    for _ in range(CHECKED_PAGES):
        body = client.get("/api/admin/audit", params={**params, "before_id": cursor}).json()
        seen += [entry["id"] for entry in body["items"]]
        cursor = body["next_before_id"]
        if cursor is None:
            break
    expected = _oracle(database, params, cursor)
    if seen != expected:
        return [f"{label}: pages list {len(seen)} entries {seen[:3]}..., plain SQL {len(expected)} {expected[:3]}..."]
    return []


def _queries(database: Path, now: datetime) -> list[tuple[str, dict[str, Any]]]:
    """The measured queries; the ids they use are read from the stored data."""
    middle = now - timedelta(days=DAYS / 2)
    with sqlite3.connect(database) as conn:
        deep_id = conn.execute("SELECT id FROM audit_log ORDER BY at, id LIMIT 1 OFFSET 1000").fetchone()[0]
        middle_id = conn.execute(
            "SELECT id FROM audit_log WHERE at < ? ORDER BY at DESC LIMIT 1", [_stored(middle.isoformat())]
        ).fetchone()[0]
        job_id = conn.execute(
            "SELECT target_id FROM audit_log WHERE action = 'job.create' AND id < ? ORDER BY id DESC LIMIT 1",
            [middle_id],
        ).fetchone()[0]
    day = {"since": middle.isoformat(), "until": (middle + timedelta(days=1)).isoformat()}
    month = {"since": (middle - timedelta(days=30)).isoformat(), "until": middle.isoformat()}
    return [
        ("first page", {}),
        ("deep page (1,000 from the oldest)", {"before_id": deep_id}),
        (f"rare actor ({RARE_ACTOR}, {RARE_ACTOR_ENTRIES} entries)", {"actor": RARE_ACTOR}),
        ("action prefix token.", {"action_prefix": "token."}),
        (f"target job {job_id}", {"target_type": "job", "target_id": job_id}),
        ("a day in the middle", day),
        ("user002 + prefix job. + a month", {"actor": "user002", "action_prefix": "job.", **month}),
        ("sparse: job.create on users (never meet)", {"action": "job.create", "target_type": "user"}),
        (
            "sparse, from the middle",
            {"actor": "admin", "action_prefix": "token.", "target_type": "user", "before_id": middle_id},
        ),
    ]


def _export(client: httpx.Client, now: datetime) -> dict[str, Any]:
    """One CSV export of a week, streamed: rows and rows per second."""
    params = {"format": "csv", "since": (now - timedelta(days=7)).isoformat()}
    start = time.perf_counter()
    lines = 0
    with client.stream("GET", "/api/admin/audit/export", params=params) as response:
        if response.status_code != 200:
            raise CorrectnessError(f"export answered {response.status_code}")
        for line in response.iter_lines():
            lines += 1 if line else 0
    seconds = time.perf_counter() - start
    rows = lines - 1
    return {"params": params, "rows": rows, "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds)}


def run() -> dict[str, Any]:
    """Run the scenario, print its figures and return them."""
    with data_dir(NAME) as data:
        first = Server(data, worker_slots=0)
        with first:
            token = first.create_token()
        show(f"[{NAME}] inserting {ENTRIES} audit entries into SQLite in batches of {BATCH}")
        now = datetime.now(UTC) - timedelta(minutes=1)
        start = time.perf_counter()
        _populate(data, now)
        inserted_seconds = time.perf_counter() - start
        database = data / "portal.db"
        show(f"[{NAME}]   inserted in {inserted_seconds:.1f} s ({database.stat().st_size / 1e6:.0f} MB)")
        with (
            Server(data, worker_slots=0) as server,
            httpx.Client(base_url=server.base_url, headers=auth(token), timeout=60.0) as client,
        ):
            show(f"[{NAME}] {REQUESTS} sequential requests per query (after {WARMUP} warm-up), p95 vs GET /healthz")
            floor_times, _ = timed_gets(client, "/healthz", {}, REQUESTS, WARMUP)
            results: dict[str, dict[str, Any]] = {}
            mismatches: list[str] = []
            for label, params in _queries(database, now):
                times, body = timed_gets(client, "/api/admin/audit", params, REQUESTS, WARMUP)
                results[label] = {"params": params, "items": len(body["items"]), **latency_summary(times)}
                mismatches += _check_pages(client, database, label, params)
            facet_times, facets = timed_gets(client, "/api/admin/audit/facets", {}, REQUESTS, WARMUP)
            results["facets"] = {"params": {}, "items": len(facets["actors"]), **latency_summary(facet_times)}
            if RARE_ACTOR not in facets["actors"] or "audit.export" not in facets["actions"]:
                mismatches.append("facets: the rare actor or its action is missing")
            export = _export(client, now)
    floor, worst = show_query_table(NAME, results, floor_times, TARGET_P95_MS, "items")
    rate = export["rows_per_second"]
    show(f"[{NAME}] export of the last week: {export['rows']} CSV rows in {export['seconds']} s ({rate} rows/s)")
    output: dict[str, Any] = {
        "entries": ENTRIES,
        "insert_seconds": round(inserted_seconds, 1),
        "requests_per_query": REQUESTS,
        "floor": {"request": "GET /healthz", **floor},
        "queries": results,
        "export": export,
        "worst_p95_ms": worst,
        "target_p95_ms": TARGET_P95_MS,
        "insert_ms_per_1000": ms(inserted_seconds / (ENTRIES / 1000)),
        "mismatches": mismatches,
    }
    show(f"[{NAME}] results in {write_results(NAME, output)}")
    if mismatches:
        raise CorrectnessError("wrong audit pages: " + "; ".join(mismatches))
    show(f"[{NAME}] checks: the first {CHECKED_PAGES} pages of every query match plain SQL on the same data")
    return output
