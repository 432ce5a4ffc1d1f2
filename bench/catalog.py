"""Catalog: importing a 200-item tree (and re-importing it unchanged), listing 1,000 items x 5 versions, and
what running from the warm bundle cache costs against a development item run straight from its folder."""

from __future__ import annotations

import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

from bench.common import (
    CorrectnessError,
    Server,
    auth,
    data_dir,
    latency_summary,
    ms,
    show,
    timed_gets,
    write_results,
)
from bench.roundtrip import JobStream
from portal.catalog import service as catalog_service
from portal.catalog.bundles import tree_digest
from portal.db import session as db
from portal.identity.principal import SYSTEM
from portal.settings import Settings, use_settings

NAME = "catalog"
TREE_ITEMS = 200
LIST_ITEMS = 1000
LIST_VERSIONS = 5
LIST_REQUESTS = 200
ROUND_TRIPS = 150
TARGET_LIST_P95_MS = 50.0
TARGET_REIMPORT_SPEEDUP = 10.0
TARGET_CACHE_COST_MS = 5.0
NOOP = Path(__file__).resolve().parents[1] / "examples" / "catalog" / "items" / "noop" / "1.0.0"


def _write_tree(root: Path, items: int, versions: int) -> Path:
    """items/<id>/<version>/ folders shaped like real ones: manifest, schema, ui, task, README."""
    for i in range(items):
        item_id = f"bench-item-{i:04d}"
        for v in range(versions):
            folder = root / "items" / item_id / f"1.{v}.0"
            folder.mkdir(parents=True)
            (folder / "manifest.yaml").write_text(
                f"id: {item_id}\nname: Bench item {i}\nversion: 1.{v}.0\nentrypoint: task.py\n"
                f"description: Item {i} for the catalog benchmark\ncategory: group-{i % 10}\n"
                f"tags: [bench, t{i % 7}]\nowner: bench-team\ntimeout: 60\n"
            )
            schema = {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "count": {"type": "integer", "minimum": 1, "maximum": 100},
                    "mode": {"type": "string", "enum": ["fast", "safe"]},
                },
            }
            (folder / "schema.json").write_text(json.dumps(schema, indent=2))
            (folder / "ui.json").write_text(json.dumps({"ui:order": ["name", "count", "mode"]}))
            (folder / "task.py").write_text(
                "import asyncio\n\n\nasync def run(inputs, progress_callback=None):\n"
                "    if progress_callback:\n        await progress_callback(50, 'half way')\n"
                f"    return {{'item': {i}, 'name': inputs['name']}}\n"
            )
            (folder / "README.md").write_text(f"# Bench item {i}\n\nDoes nothing, {v} times over.\n")
    return root


def _in_process(data: Path) -> None:
    settings = Settings(data_dir=data, catalog_load_examples=False, worker_slots=0)
    use_settings(settings)
    db.configure(settings)
    from portal.db import migrate

    migrate.upgrade()


def _import_tree(data: Path) -> dict[str, Any]:
    tree = _write_tree(data / "tree", TREE_ITEMS, 1)
    _in_process(data / "import")
    start = time.perf_counter()
    for folder in sorted((tree / "items").iterdir()):
        tree_digest(next(folder.iterdir()))
    floor = time.perf_counter() - start
    start = time.perf_counter()
    first = catalog_service.import_local(SYSTEM, str(tree), enforce_roots=False)
    first_seconds = time.perf_counter() - start
    start = time.perf_counter()
    again = catalog_service.import_local(SYSTEM, str(tree), enforce_roots=False)
    again_seconds = time.perf_counter() - start
    db.dispose()
    if [v.outcome for v in first.imported] != ["imported"] * TREE_ITEMS:
        raise CorrectnessError("the first import did not import every item")
    if [v.outcome for v in again.imported] != ["unchanged"] * TREE_ITEMS:
        raise CorrectnessError("the re-import changed something")
    speedup = first_seconds / again_seconds
    show(f"[{NAME}] import of {TREE_ITEMS} items: {first_seconds:.2f} s, {TREE_ITEMS / first_seconds:.0f} items/s")
    show(
        f"[{NAME}] unchanged re-import: {again_seconds:.3f} s, {speedup:.1f}x faster "
        f"(target >= {TARGET_REIMPORT_SPEEDUP:.0f}x: {'met' if speedup >= TARGET_REIMPORT_SPEEDUP else 'missed'})"
    )
    show(
        f"[{NAME}] floor: reading and hashing the tree's files once takes {floor:.3f} s; "
        f"re-import / floor = {again_seconds / floor:.1f}"
    )
    return {
        "items": TREE_ITEMS,
        "import_seconds": round(first_seconds, 3),
        "items_per_second": round(TREE_ITEMS / first_seconds, 1),
        "reimport_seconds": round(again_seconds, 4),
        "reimport_speedup": round(speedup, 1),
        "read_floor_seconds": round(floor, 4),
    }


def _list(data: Path) -> dict[str, Any]:
    tree = _write_tree(data / "big-tree", LIST_ITEMS, LIST_VERSIONS)
    _in_process(data / "list")
    start = time.perf_counter()
    catalog_service.import_local(SYSTEM, str(tree), enforce_roots=False)
    show(f"[{NAME}] registered {LIST_ITEMS} items x {LIST_VERSIONS} versions in {time.perf_counter() - start:.1f} s")
    db.dispose()
    shutil.rmtree(tree)
    figures: dict[str, Any] = {}
    with (
        Server(data / "list", worker_slots=0) as server,
        httpx.Client(base_url=server.base_url, headers=auth(server.create_token()), timeout=30) as client,
    ):
        everything = client.get("/api/catalog", params={"page_size": 1000, "q": "bench item"}).json()
        expected = [f"1.{v}.0" for v in reversed(range(LIST_VERSIONS))]
        if everything["total"] != LIST_ITEMS or any(i["versions"] != expected for i in everything["items"]):
            raise CorrectnessError("the catalog list does not hold every item with its versions")
        floor = latency_summary(timed_gets(client, "/healthz", {}, LIST_REQUESTS)[0])
        figures["floor_healthz"] = floor
        show(f"[{NAME}] floor GET /healthz p95 {floor['p95_ms']:.2f} ms")
        queries: list[tuple[str, dict[str, Any]]] = [
            ("all items", {"page_size": 1000}),
            ("first page of 200", {}),
            ("q=item 12", {"q": "item 12"}),
            ("category=group-3", {"category": "group-3"}),
        ]
        for label, params in queries:
            summary = latency_summary(timed_gets(client, "/api/catalog", params, LIST_REQUESTS)[0])
            figures[label] = summary
            show(
                f"[{NAME}]   GET /api/catalog {label:20} p95 {summary['p95_ms']:7.2f} ms  "
                f"ratio {summary['p95_ms'] / floor['p95_ms']:6.2f}"
            )
    worst = max(v["p95_ms"] for k, v in figures.items() if k != "floor_healthz")
    show(
        f"[{NAME}] worst list p95 {worst:.2f} ms (target < {TARGET_LIST_P95_MS:.0f} ms: "
        f"{'met' if worst < TARGET_LIST_P95_MS else 'missed'})"
    )
    figures["worst_p95_ms"] = worst
    return figures


def _bundle_cost(data: Path) -> dict[str, Any]:
    dev = data / "dev-tree" / "items" / "noop-dev" / "1.0.0"
    shutil.copytree(NOOP, dev)
    manifest = (dev / "manifest.yaml").read_text().replace("id: noop", "id: noop-dev")
    (dev / "manifest.yaml").write_text(manifest)
    (data / "roundtrips").mkdir()
    with Server(data / "roundtrips", worker_slots=2) as server:
        token = server.create_token()
        done = _cli_import(server, data / "dev-tree")
        if done != 0:
            raise CorrectnessError("the development item could not be imported")
        times: dict[str, list[float]] = {"noop": [], "noop-dev": []}
        with (
            httpx.Client(base_url=server.base_url, headers=auth(token), timeout=30) as client,
            connect(f"{server.ws_url}/ws/jobs", additional_headers=auth(token)) as ws,
        ):
            stream = JobStream(ws)
            for i in range(ROUND_TRIPS + 10):
                for item in ("noop", "noop-dev"):
                    start = time.perf_counter()
                    job = client.post("/api/jobs", json={"item_id": item, "inputs": {}}).json()
                    stream.wait_for(job["id"], 30)
                    if i >= 10:
                        times[item].append(time.perf_counter() - start)
    bundle, folder = statistics.median(times["noop"]), statistics.median(times["noop-dev"])
    cost = ms(bundle - folder)
    show(
        f"[{NAME}] round trip from the warm bundle cache: median {ms(bundle):.2f} ms; "
        f"from a development folder: {ms(folder):.2f} ms"
    )
    show(
        f"[{NAME}] the bundle cache adds {cost:.2f} ms (target < {TARGET_CACHE_COST_MS:.0f} ms: "
        f"{'met' if cost < TARGET_CACHE_COST_MS else 'missed'})"
    )
    return {"bundle_median_ms": ms(bundle), "development_median_ms": ms(folder), "cache_cost_ms": cost}


def _cli_import(server: Server, path: Path) -> int:
    import subprocess

    from bench.common import PORTAL_BIN

    return subprocess.run(
        [str(PORTAL_BIN), "catalog", "import-local", "--development", str(path)],
        env=server.env,
        capture_output=True,
        timeout=120,
    ).returncode


def run() -> dict[str, Any]:
    """All three parts; figures to bench/results/catalog.json."""
    with data_dir(NAME) as data:
        figures = {"import": _import_tree(data), "list": _list(data), "bundle_cache": _bundle_cost(data)}
    write_results(NAME, figures)
    return figures
