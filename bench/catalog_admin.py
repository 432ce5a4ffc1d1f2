"""Catalog administration: the admin catalog table and the item page's API calls with 1,000 items x 10 versions and
1,000,000 jobs (SQLite, then PostgreSQL), and a schema diff checked against 50 schedules and 10,000 recent jobs.

The items, versions and jobs are inserted straight into the database of a stopped server (one bundle row shared by
every version: the admin calls never read bundles), the counters rebuilt. The diff compares two real imported
versions of one item whose 10,000 jobs and 50 schedules are inserted the same way. The floor is `GET /healthz`.
"""

from __future__ import annotations

import json
import random
import tarfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

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
from portal.catalog.models import Bundle, CatalogItem, CatalogVersion
from portal.db import session as db
from portal.schedules.models import Schedule
from portal.settings import Settings

NAME = "catalog-admin"
ITEMS = 1000
VERSIONS = 10
SQLITE_JOBS = 1_000_000
POSTGRES_JOBS = 1_000_000
BATCH = 20_000
REQUESTS = 100
DIFF_REQUESTS = 20
DIFF_JOBS = 10_000
DIFF_SCHEDULES = 50
TARGET_P95_MS = 50.0
TARGET_DIFF_MS = 500.0
SCHEMA = {"type": "object", "properties": {"host": {"type": "string"}, "port": {"type": "integer"}}}
NEW_SCHEMA = {
    "type": "object",
    "properties": {"host": {"type": "string", "maxLength": 8}, "region": {"type": "string"}},
    "required": ["region"],
}


def _catalog_rows(now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    items, versions = [], []
    states = ["active"] * 6 + ["deprecated", "draft", "in_review", "archived"]
    for n in range(ITEMS):
        item_id = f"bench-admin-{n:04d}"
        numbers = [f"1.{v}.0" for v in range(VERSIONS)]
        items.append(
            {
                "id": item_id,
                "name": f"Bench admin item {n}",
                "description": "an item of the catalog administration benchmark",
                "category": f"group-{n % 10}",
                "tags": ["bench", f"tag-{n % 7}"],
                "owner": f"team-{n % 20}",
                "latest_version": numbers[5],
                "versions": list(reversed(numbers[:7])),
                "featured": False,
                "created_at": now,
                "updated_at": now,
            }
        )
        for v, number in enumerate(numbers):
            versions.append(
                {
                    "item_id": item_id,
                    "version": number,
                    "status": states[v],
                    "manifest": {"id": item_id, "name": item_id, "version": number, "entrypoint": "task.py"},
                    "input_schema": SCHEMA,
                    "ui_schema": {},
                    "readme": "",
                    "bundle_sha256": "0" * 64,
                    "source": {"type": "bench"},
                    "imported_by": "admin",
                    "imported_at": now - timedelta(days=VERSIONS - v),
                }
            )
    return items, versions


def _insert_catalog(data: Path, database_url: str) -> None:
    db.configure(Settings(data_dir=data, database_url=database_url))
    try:
        items, versions = _catalog_rows(datetime.now(UTC))
        with db.get_engine().begin() as conn:
            conn.execute(insert(Bundle), [{"sha256": "0" * 64, "size": 1}])
            conn.execute(insert(CatalogItem), items)
            for first in range(0, len(versions), BATCH):
                conn.execute(insert(CatalogVersion), versions[first : first + BATCH])
    finally:
        db.dispose()


def _jobs(jobs: int, item_of: Any) -> Iterator[list[dict[str, Any]]]:
    rng = random.Random(11)
    now = datetime.now(UTC)
    for first in range(0, jobs, BATCH):
        rows = job_rows(rng, first, min(BATCH, jobs - first), now, jobs)
        for row in rows:
            row["item_id"] = item_of(rng)
        yield rows


def _measure_table(label: str, data: Path, jobs: int, database_url: str = "") -> dict[str, Any]:
    settings = {"PORTAL_DATABASE_URL": database_url, "PORTAL_CATALOG_LOAD_EXAMPLES": "false"}
    if not database_url:
        del settings["PORTAL_DATABASE_URL"]
    data.mkdir(parents=True, exist_ok=True)
    with Server(data, worker_slots=0, settings=settings) as first:
        token = first.create_token()
    show(f"[{NAME}] {label}: inserting {ITEMS} items x {VERSIONS} versions and {jobs:,} jobs")
    start = time.perf_counter()
    _insert_catalog(data, database_url)
    insert_jobs(data, _jobs(jobs, lambda rng: f"bench-admin-{rng.randrange(ITEMS):04d}"), database_url)
    show(f"[{NAME}]   inserted in {time.perf_counter() - start:.0f} s")
    figures: dict[str, Any] = {"jobs": jobs}
    with (
        Server(data, worker_slots=0, settings=settings) as server,
        httpx.Client(base_url=server.base_url, headers=auth(token), timeout=60.0) as client,
    ):
        floor = latency_summary(timed_gets(client, "/healthz", {}, REQUESTS)[0])
        figures["floor_healthz"] = floor
        page = client.get("/api/admin/catalog/items").json()
        if page["total"] != ITEMS or len(page["items"]) != 50:
            raise CorrectnessError(f"{label}: the admin table lists {page['total']} items, not {ITEMS}")
        row = page["items"][0]
        if sum(row["states"].values()) != VERSIONS or row["runs_30d"] <= 0:
            raise CorrectnessError(f"{label}: a row's counts are wrong: {row}")
        queries: list[tuple[str, str, dict[str, Any]]] = [
            ("table, first page", "/api/admin/catalog/items", {}),
            ("table, q=item 12", "/api/admin/catalog/items", {"q": "item 12"}),
            ("table, state=in_review", "/api/admin/catalog/items", {"state": "in_review"}),
            ("table, tag + owner", "/api/admin/catalog/items", {"tag": "tag-3", "owner": "team-4"}),
            (
                "table, page 15 newest first",
                "/api/admin/catalog/items",
                {"page": 15, "sort": "updated_at", "order": "desc"},
            ),
            ("item page", "/api/admin/catalog/items/bench-admin-0500", {}),
            ("reviews waiting", "/api/admin/catalog/reviews", {}),
        ]
        worst = 0.0
        for name, path, params in queries:
            summary = latency_summary(timed_gets(client, path, params, REQUESTS)[0])
            figures[name] = summary
            worst = max(worst, summary["p95_ms"])
            ratio = summary["p95_ms"] / floor["p95_ms"]
            show(f"[{NAME}]   {name:30} p95 {summary['p95_ms']:7.2f} ms  ratio {ratio:6.2f}")
    met = "met" if worst < TARGET_P95_MS else "missed"
    show(
        f"[{NAME}]   worst p95 {worst:.2f} ms, /healthz p95 {floor['p95_ms']:.2f} ms "
        f"(target < {TARGET_P95_MS:.0f} ms: {met})"
    )
    figures["worst_p95_ms"] = worst
    figures["target_met"] = met == "met"
    return figures


def _bundle(item_id: str, version: str, schema: dict[str, Any]) -> bytes:
    files = {
        "manifest.yaml": f"id: {item_id}\nname: {item_id}\nversion: {version}\nentrypoint: task.py\n",
        "schema.json": json.dumps(schema),
        "task.py": "def run(inputs):\n    return {'ok': True}\n",
        "README.md": f"# {item_id} {version}\n",
    }
    out = BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{item_id}-{version}/{name}")
            info.size = len(data)
            tar.addfile(info, BytesIO(data))
    return out.getvalue()


def _measure_diff(data: Path) -> dict[str, Any]:
    settings = {"PORTAL_CATALOG_LOAD_EXAMPLES": "false"}
    data.mkdir(parents=True, exist_ok=True)
    with Server(data, worker_slots=0, settings=settings) as server:
        token = server.create_token()
        with httpx.Client(base_url=server.base_url, headers=auth(token), timeout=60.0) as client:
            for version, schema in (("1.0.0", SCHEMA), ("2.0.0", NEW_SCHEMA)):
                files = {"file": ("b.tar.gz", _bundle("diffed", version, schema), "application/gzip")}
                client.post("/api/catalog/bundle/upload", files=files).raise_for_status()
    rng = random.Random(3)
    insert_jobs(data, _jobs(DIFF_JOBS, lambda _: "diffed"))
    # Inputs as people give them: a few hundred distinct sets, some the new version refuses.
    db.configure(Settings(data_dir=data))
    try:
        with db.get_engine().begin() as conn:
            conn.exec_driver_sql(
                "UPDATE jobs SET inputs = json_object('host', 'host-' || (id % 300), 'port', id % 7) "
                "WHERE item_id = 'diffed'"
            )
            now = datetime.now(UTC)
            conn.execute(
                insert(Schedule),
                [
                    {
                        "name": f"bench-{n}",
                        "description": "",
                        "item_id": "diffed",
                        "version": "latest",
                        "inputs": {"host": f"h{rng.randrange(1000)}", "region": "eu"} if n % 2 else {"host": "x"},
                        "cron": "0 3 * * *",
                        "timezone": "UTC",
                        "enabled": False,
                        "owner_name": "admin",
                        "created_by_name": "admin",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in range(DIFF_SCHEDULES)
                ],
            )
    finally:
        db.dispose()
    with (
        Server(data, worker_slots=0, settings=settings) as server,
        httpx.Client(base_url=server.base_url, headers=auth(token), timeout=60.0) as client,
    ):
        floor = latency_summary(timed_gets(client, "/healthz", {}, REQUESTS)[0])
        times, body = timed_gets(
            client, "/api/admin/catalog/items/diffed/diff", {"from": "1.0.0", "to": "2.0.0"}, DIFF_REQUESTS, 2
        )
    affected = body["schema"]["affected"]
    if affected["jobs_checked"] != DIFF_JOBS or affected["jobs_failing"] != DIFF_JOBS:
        raise CorrectnessError(f"the diff checked {affected['jobs_checked']} jobs, {affected['jobs_failing']} failing")
    if len(affected["schedules"]) != DIFF_SCHEDULES // 2:
        raise CorrectnessError(f"the diff found {len(affected['schedules'])} schedules, not {DIFF_SCHEDULES // 2}")
    summary = latency_summary(times)
    met = "met" if summary["p95_ms"] < TARGET_DIFF_MS else "missed"
    show(
        f"[{NAME}] diff with {DIFF_SCHEDULES} schedules and {DIFF_JOBS:,} jobs: p95 {summary['p95_ms']:.1f} ms, "
        f"median {summary['median_ms']:.1f} ms; /healthz p95 {floor['p95_ms']:.2f} ms "
        f"(target < {TARGET_DIFF_MS:.0f} ms: {met})"
    )
    return {"diff": summary, "floor_healthz": floor, "target_met": met == "met"}


def run() -> dict[str, Any]:
    """Run the scenario, print its figures and return them."""
    figures: dict[str, Any] = {}
    with data_dir(NAME) as root:
        figures["sqlite"] = _measure_table("SQLite", root / "sqlite", SQLITE_JOBS)
        with postgres_database(NAME) as url:
            if url is not None:
                figures["postgresql"] = _measure_table("PostgreSQL", root / "postgresql", POSTGRES_JOBS, url)
        figures["diff"] = _measure_diff(root / "diff")
    write_results(NAME, figures)
    return figures
