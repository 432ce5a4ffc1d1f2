"""Two API nodes and two or more workers as separate processes: every job runs once, events and cancels cross
nodes, queues route, priorities order, and a worker killed with SIGKILL leaves no job stuck."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.helpers import (
    collect,
    finished,
    free_port,
    git,
    item_files,
    process_alive,
    sleeper_pids,
    wait_for_job,
    wait_until,
    write,
    ws,
)
from tests.integration.execution.distributed.conftest import Cluster


def launch(client: httpx.Client, item_id: str, inputs: dict[str, Any] | None = None) -> int:
    response = client.post("/api/jobs", json={"item_id": item_id, "inputs": inputs or {}})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_two_hundred_jobs_from_two_api_nodes_run_exactly_once(cluster: Cluster) -> None:
    with cluster.client(0) as first, cluster.client(1) as second:
        ids = [launch(first if n % 2 else second, "noop") for n in range(200)]
        assert wait_until(
            lambda: first.get("/api/jobs", params={"item_id": "noop", "state": "SUCCEEDED"}).json()["total"] >= 200,
            timeout=180,
            interval=0.5,
        )
        workers_used = set()
        for job_id in ids:
            job = first.get(f"/api/jobs/{job_id}").json()
            assert job["state"] == "SUCCEEDED", job
            starts = [e for e in job["events"] if e["kind"] == "state" and e["to_state"] == "RUNNING"]
            assert len(starts) == 1, (job_id, job["events"])
            workers_used.add(job["worker"])
    assert len(workers_used) == 2, workers_used
    received = sum(w.log().count("portal.run_job[") for w in cluster.workers[:2])
    assert received >= 200  # every message reached a worker (each logs it when received and when done)


def test_events_reach_a_websocket_on_the_other_api_node(cluster: Cluster) -> None:
    with ws(cluster.apis[1], "/ws/jobs", cluster.token) as stream, cluster.client(0) as first:
        job_id = launch(
            first,
            "backup-config",
            {"devices": ["router-1"], "bucket": "b-bucket", "encryption": True, "schedule": "daily"},
        )
        messages = [m for m in collect(stream, finished(job_id), timeout=60) if m["job"]["id"] == job_id]
    revs = [m["rev"] for m in messages]
    assert revs == sorted(set(revs)), revs  # each update once, in order
    states = [m["job"]["state"] for m in messages]
    assert states[-1] == "SUCCEEDED" and "RUNNING" in states
    assert any(m["job"]["progress"] not in (0, 100) for m in messages)  # progress from the worker, live


def test_log_lines_stream_to_the_other_api_node(cluster: Cluster) -> None:
    with cluster.client(0) as first:
        # The stream sends what happens from when it opens: the job waits a moment before its first line.
        job_id = launch(first, "chatty", {"delay": 2})
        with ws(cluster.apis[1], f"/ws/jobs/{job_id}", cluster.token) as stream:
            messages = collect(stream, finished(job_id), timeout=60)
    lines = [line for m in messages if m["type"] == "job.log" for line in m["lines"]]
    ids = [line["id"] for line in lines]
    assert lines and ids == sorted(set(ids))


def test_a_token_revoked_on_one_api_node_ends_its_streams_on_the_other(cluster: Cluster) -> None:
    """The nodes recheck credentials on a timer only every 600 s here: the close comes from the bus."""
    with cluster.client(0) as first:
        created = first.post("/api/auth/tokens", json={"name": "streaming"}).json()
        with ws(cluster.apis[1], "/ws/jobs", created["secret"]) as stream:
            launch(first, "chatty", {"lines": 0, "progress_steps": 300})
            collect(stream, lambda m: m.get("type") == "job.updated", timeout=60)  # updates are flowing
            assert first.delete(f"/api/auth/tokens/{created['token']['id']}").status_code == 204
            with pytest.raises(ConnectionClosed) as closed:
                collect(stream, lambda m: False, timeout=15)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    with cluster.apis[1].client(created["secret"]) as revoked:  # and the other node's credential cache forgot it
        assert revoked.get("/api/auth/me").status_code == 401


def test_cancel_on_one_api_node_stops_the_job_on_its_worker(cluster: Cluster) -> None:
    with cluster.client(0) as first, cluster.client(1) as second:
        job_id = launch(first, "sleeper")
        child, grandchild = sleeper_pids(first, job_id)
        response = second.post(f"/api/jobs/{job_id}/cancel")
        assert response.status_code == 200, response.text
        job = wait_for_job(first, job_id, {"CANCELLED", "FAILED", "SUCCEEDED"})
        assert job["state"] == "CANCELLED"
        assert wait_until(lambda: not process_alive(child) and not process_alive(grandchild))


def test_cancelled_queued_job_never_runs(cluster: Cluster) -> None:
    with cluster.client(0) as first, cluster.client(1) as second:
        job_id = launch(first, "ordered-low")  # no worker listens to `ordered` yet
        assert second.post(f"/api/jobs/{job_id}/cancel").json()["state"] == "CANCELLED"
        worker = cluster.add_worker(PORTAL_WORKER_QUEUES="ordered", PORTAL_WORKER_CONCURRENCY="1")
        after = launch(first, "ordered-low")
        assert wait_for_job(first, after, {"SUCCEEDED"})["worker"]
        assert first.get(f"/api/jobs/{job_id}").json()["started_at"] is None
        worker.stop()


def test_queues_route_and_priorities_order(cluster: Cluster) -> None:
    with cluster.client(0) as first:
        low = [launch(first, "ordered-low", {"seconds": 0.2}) for _ in range(3)]
        high = launch(first, "ordered-high")
        routine = launch(first, "noop")
        wait_for_job(first, routine, {"SUCCEEDED"})  # the default workers ran this one ...
        assert all(first.get(f"/api/jobs/{i}").json()["state"] == "QUEUED" for i in [*low, high])  # ... not these
        depth = {q["queue"]: q for q in first.get("/api/admin/health/detailed").json()["queues"]}
        assert depth["ordered"]["depth"] == 4 and depth["ordered"]["broker_messages"] == 4
        worker = cluster.add_worker(PORTAL_WORKER_QUEUES="ordered", PORTAL_WORKER_CONCURRENCY="1")
        jobs = [wait_for_job(first, i, {"SUCCEEDED"}) for i in [*low, high]]
        worker.stop()
    order = sorted(jobs, key=lambda j: j["started_at"])
    assert order[0]["id"] == high  # the high-priority job, sent last, ran first
    assert {j["worker"] for j in jobs} == {order[0]["worker"]}  # all on the `ordered` worker


def test_health_lists_api_nodes_and_workers(cluster: Cluster) -> None:
    with cluster.client(1) as second:
        health = second.get("/api/admin/health/detailed").json()
    assert health["mode"] == "distributed"
    assert health["checks"] == {
        "database": "ok",
        "migrations": "ok",
        "sources": "ok",
        "executor": "ok",
        "broker": "ok",
        "event_bus": "ok",
    }
    alive = [n for n in health["nodes"] if n["alive"]]
    assert sum(n["kind"] == "api" for n in alive) == 2
    assert sum(n["kind"] == "celery" for n in alive) >= 2
    check = cluster.workers[0]
    result = cluster.apis[0].cli("worker", "--check")
    assert result.returncode == 0 and "alive" in result.stdout, (result.stdout, result.stderr, check.log()[-500:])


def test_a_worker_killed_mid_job_leaves_no_job_stuck(cluster: Cluster) -> None:
    victim = cluster.add_worker(PORTAL_WORKER_QUEUES="fragile", PORTAL_WORKER_CONCURRENCY="2")
    with cluster.client(0) as first:
        once = launch(first, "fragile-once", {"seconds": 120})
        again = launch(first, "fragile-idempotent", {"seconds": 2})
        pids = [pid for job_id in (once, again) for pid in sleeper_pids(first, job_id)]
        victim.stop(signal.SIGKILL)
        assert wait_until(lambda: not any(process_alive(pid) for pid in pids), timeout=10)  # children die with it
        failed = wait_for_job(first, once, {"FAILED", "SUCCEEDED", "CANCELLED"}, timeout=60)
        assert failed["state"] == "FAILED" and failed["error"]["type"] == "WorkerLost"
        requeued = wait_for_job(first, again, {"QUEUED", "FAILED", "SUCCEEDED"}, timeout=60)
        assert requeued["state"] == "QUEUED"
        assert any(e["kind"] == "requeue" for e in requeued["events"])
        rescuer = cluster.add_worker(PORTAL_WORKER_QUEUES="fragile")
        done = wait_for_job(first, again, {"SUCCEEDED", "FAILED"}, timeout=60)
        rescuer.stop()
    assert done["state"] == "SUCCEEDED"
    runs = [e for e in done["events"] if e["kind"] == "state" and e["to_state"] == "RUNNING"]
    assert len(runs) == 2 and runs[0]["message"] != runs[1]["message"]  # started on the victim, then the rescuer


def test_a_worker_serves_its_job_metrics(cluster: Cluster) -> None:
    port = free_port()
    worker = cluster.add_worker(PORTAL_WORKER_QUEUES="metered", PORTAL_WORKER_METRICS_PORT=str(port))
    with cluster.client(0) as first:
        job_id = launch(first, "metered")
        assert wait_for_job(first, job_id, {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    worker.stop()
    assert 'portal_job_duration_seconds_count{item_id="metered",state="SUCCEEDED"} 1.0' in text
    assert "portal_jobs{" not in text  # the totals are the API nodes' to report


def test_a_nul_character_postgresql_cannot_store_is_a_422_not_a_500(cluster: Cluster) -> None:
    """SQLite stores NUL, PostgreSQL does not: on PostgreSQL every field answers 422, naming what is wrong."""
    with cluster.client(0) as admin:
        user = {"username": "nul-tester", "role": "viewer", "display_name": "a\u0000b", "password": None}
        refused = admin.post("/api/admin/users", json=user)
        assert refused.status_code == 422 and "NUL" in refused.json()["error"]["message"], refused.text
        job = admin.post("/api/jobs", json={"item_id": "noop", "inputs": {"x": "a\u0000b"}})
        assert job.status_code == 422 and job.json()["error"]["details"][0]["field"] == "x", job.text
        assert admin.get("/api/admin/users", params={"q": "nul-tester"}).json() == []
        login = httpx.post(f"{cluster.apis[0].url}/api/auth/login", json={"username": "a\u0000b", "password": "x"})
        assert login.status_code == 422, login.text


def test_a_git_import_runs_on_a_worker(cluster: Cluster, tmp_path: Path) -> None:
    """An import is a kind of job the worker process registers when it starts: it runs there like any job."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo / "items" / "cluster-git", item_files("cluster-git", "1.0.0", "imported on a worker"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "1.0.0")
    git(repo, "tag", "cluster-git@1.0.0")
    with cluster.client(0) as first:
        body = {"repo_url": f"file://{repo}", "item_id": "cluster-git", "version": "1.0.0"}
        response = first.post("/api/catalog/git/import", json=body)
        assert response.status_code == 202, response.text
        done = wait_for_job(first, response.json()["id"], {"SUCCEEDED", "FAILED"})
        assert done["state"] == "SUCCEEDED", done["error"]
        assert done["worker"].startswith("celery"), done["worker"]
        assert [e["message"] for e in done["events"] if e["kind"] == "step"][-1] == "imported"
        run = wait_for_job(first, launch(first, "cluster-git"), {"SUCCEEDED", "FAILED"})
        assert run["result"]["result"] == "imported on a worker", run
