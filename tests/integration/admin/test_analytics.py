"""Analytics over real runs: the figures per item and version equal plain SQL over the same jobs (the percentiles
to their histogram bucket), every run stores its CPU time and peak memory, failures are grouped by type and
message, adoption and the usage ranking count the same runs, and a failed import is recorded with its problems."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy

from portal.jobs import usage
from portal.jobs.usage import bucket_middle, bucket_of
from tests.helpers import FIXTURE_CATALOG, PortalServer, targz, upload, wait_for_job

RUNS = {"noop": 6, "bad-result": 3, "silent-exit": 2, "memory-hog": 1}


def _rows(server: PortalServer, statement: str) -> list[Any]:
    engine = sqlalchemy.create_engine(f"sqlite:///{server.data_dir / 'portal.db'}")
    try:
        with engine.connect() as conn:
            return list(conn.execute(sqlalchemy.text(statement)).all())
    finally:
        engine.dispose()


def _nearest_rank(values: list[int], share: float) -> int:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def test_analytics_equal_plain_sql_over_the_same_jobs(tmp_path: Path) -> None:
    server = PortalServer(tmp_path / "data", env={"PORTAL_WORKER_SLOTS": "2"}).start()
    try:
        with server.client(server.token_for("admin")) as admin:
            assert admin.post("/api/catalog/local/import", json={"path": str(FIXTURE_CATALOG)}).status_code == 200
            ids = [
                admin.post("/api/jobs", json={"item_id": item, "inputs": {}}).json()["id"]
                for item, count in RUNS.items()
                for _ in range(count)
            ]
            jobs = [wait_for_job(admin, job_id, {"SUCCEEDED", "FAILED", "CANCELLED"}, timeout=60) for job_id in ids]

            # Every run stores what its processes used.
            assert all(job["cpu_ms"] is not None and job["max_rss_kb"] for job in jobs), jobs
            hog = next(job for job in jobs if job["item_id"] == "memory-hog")
            assert hog["max_rss_kb"] > 100 * 1024  # it got past 100 MiB before its 200 MiB limit stopped it

            body = admin.get("/api/admin/analytics/items").json()
            errors = admin.get("/api/admin/analytics/errors").json()
            adoption = admin.get("/api/admin/analytics/adoption", params={"item_id": "noop"}).json()
            ranking = admin.get("/api/admin/analytics/usage").json()

            broken = targz({"manifest.yaml": "id: broken\nname: x\n"}, wrap="broken-1.0.0/")
            assert upload(admin, broken, name="broken.tar.gz").status_code == 422
            failures = admin.get("/api/admin/analytics/imports").json()
    finally:
        server.stop()

    rows = _rows(
        server,
        "SELECT item_id, item_version, state, started_at, finished_at, cpu_ms, max_rss_kb FROM jobs "
        "WHERE kind = 'catalog_execution' AND state IN ('SUCCEEDED', 'FAILED', 'CANCELLED')",
    )
    expected: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"runs": 0, "states": Counter(), "cpu": 0, "rss": 0, "durations": []}
    )
    for item, version, state, started, finished, cpu, rss in rows:
        cell = expected[(item, version)]
        cell["runs"] += 1
        cell["states"][state] += 1
        cell["cpu"] += cpu or 0
        cell["rss"] = max(cell["rss"], rss or 0)
        if started is not None:  # SQLite keeps times as ISO text
            took = datetime.fromisoformat(str(finished)) - datetime.fromisoformat(str(started))
            cell["durations"].append(max(0, int(took.total_seconds() * 1000)))

    reported = {(i["item_id"], v["version"]): v for i in body["items"] for v in i["versions"]}
    assert set(reported) == set(expected)
    for key, cell in expected.items():
        figures = reported[key]
        assert figures["runs"] == cell["runs"]
        assert figures["succeeded"] == cell["states"]["SUCCEEDED"]
        assert figures["failed"] == cell["states"]["FAILED"]
        assert figures["cancelled"] == cell["states"]["CANCELLED"]
        assert figures["cpu_ms"] == cell["cpu"]
        assert figures["max_rss_kb"] == cell["rss"]
        decided = cell["states"]["SUCCEEDED"] + cell["states"]["FAILED"]
        assert figures["success_rate"] == round(cell["states"]["SUCCEEDED"] / decided, 4)
        for share, name in ((0.5, "p50_ms"), (0.95, "p95_ms")):
            exact = _nearest_rank(cell["durations"], share)
            assert figures[name] == bucket_middle(bucket_of(exact)), (key, name, exact, figures[name])
            assert abs(figures[name] - exact) <= max(1, exact * 0.1)  # "within 10 %"
    noop = next(i for i in body["items"] if i["item_id"] == "noop")
    assert noop["runs"] == RUNS["noop"] and noop["success_rate"] == 1.0

    failed = _rows(
        server,
        "SELECT error_type, error_key, count(*), min(id), max(id) FROM jobs WHERE state = 'FAILED' "
        "AND kind = 'catalog_execution' GROUP BY error_type, error_key",
    )
    assert errors["failures"] == sum(RUNS[i] for i in ("bad-result", "silent-exit", "memory-hog"))
    grouped = {(g["type"], g["message"]): (g["count"], g["sample_jobs"]) for g in errors["groups"]}
    assert grouped == {(t, k): (n, sorted({lo, hi})) for t, k, n, lo, hi in failed}
    assert all("#" not in g["example"] for g in errors["groups"])  # the example is the message as it was

    assert sum(sum(day["runs"].values()) for day in adoption["days"]) == RUNS["noop"]
    assert adoption["versions"] == ["1.0.0"]
    assert ranking["most_used"][0] == {**ranking["most_used"][0], "item_id": "noop", "runs": RUNS["noop"]}
    assert "noop" not in {entry["item_id"] for entry in ranking["unused"]}
    assert "backup-config" in {entry["item_id"] for entry in ranking["unused"]}

    assert failures["total"] == 1
    failure = failures["items"][0]
    assert (failure["source"], failure["target"], failure["code"]) == ("upload", "broken.tar.gz", "validation_failed")
    assert failure["problems"], failure

    # The usage blocks written run by run as jobs finished equal a recount from the jobs.
    usage_tables = ("job_usage", "job_usage_buckets")
    live = {name: sorted(map(tuple, _rows(server, f"SELECT * FROM {name}"))) for name in usage_tables}
    engine = sqlalchemy.create_engine(f"sqlite:///{server.data_dir / 'portal.db'}")
    try:
        with engine.begin() as conn:
            usage.rebuild(conn)
    finally:
        engine.dispose()
    assert {name: sorted(map(tuple, _rows(server, f"SELECT * FROM {name}"))) for name in usage_tables} == live
    assert len(live["job_usage"]) >= len(usage.SPANS) * len(RUNS)


def test_a_period_is_checked(tmp_path: Path) -> None:
    server = PortalServer(tmp_path / "data").start()
    try:
        with server.client(server.token_for("admin")) as admin:
            reversed_period = admin.get(
                "/api/admin/analytics/items", params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
            )
            assert reversed_period.status_code == 422
            assert reversed_period.json()["error"]["details"][0]["field"] == "since"
            too_long = admin.get("/api/admin/analytics/errors", params={"since": "2020-01-01T00:00:00Z"})
            assert too_long.status_code == 422
            far = admin.get("/api/admin/analytics/items", params={"until": "9999-12-31T12:00:00Z"})
            assert far.status_code == 422 and far.json()["error"]["details"][0]["field"] == "until"
            # The window counted is whole days, the same for every endpoint, and the answer names it.
            window = {"since": "2026-03-01T10:00:00Z", "until": "2026-03-02T10:00:00Z"}
            counted = admin.get("/api/admin/analytics/items", params=window).json()
            assert (counted["since"], counted["until"]) == ("2026-03-01T00:00:00Z", "2026-03-03T00:00:00Z")
            errors = admin.get("/api/admin/analytics/errors", params=window).json()
            assert (errors["since"], errors["until"]) == (counted["since"], counted["until"])
        with server.client(server.token_for("admin")) as admin:
            viewer = admin.post(
                "/api/admin/users", json={"username": "vera", "role": "viewer", "password": "violet-harbour-42-lantern"}
            )
            assert viewer.status_code == 201, viewer.text
        with server.client(server.token_for("vera")) as vera:
            assert vera.get("/api/admin/analytics/items").status_code == 403
    finally:
        server.stop()
