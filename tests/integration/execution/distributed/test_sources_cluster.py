"""Catalog sources on two API nodes: one document in PostgreSQL that both read (same revision and ETag), a save on
one refused as stale on the other, refreshes asked for on both nodes at once made into one job that a worker runs,
and its status announced on the other node's WebSocket the moment it ends."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import collect, git, item_files, wait_for_job, write, ws
from tests.integration.execution.distributed.conftest import Cluster


def doc(*sources: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "portal/v1", "kind": "CatalogSources", "sources": list(sources)}


def tagged_repo(root: Path) -> str:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    for version in ("1.0.0", "1.1.0"):
        write(root / "items" / "clustered", item_files("clustered", version, f"clustered {version}"))
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", version)
        git(root, "tag", f"clustered@{version}")
    return f"file://{root}"


def test_two_api_nodes_share_the_sources_and_their_refreshes(cluster: Cluster, tmp_path: Path) -> None:
    source = {"id": "shared", "type": "git", "url": tagged_repo(tmp_path / "repo"), "poll_seconds": 0}
    with cluster.client(0) as first, cluster.client(1) as second:
        etag = first.get("/api/admin/sources").headers["ETag"]
        assert second.get("/api/admin/sources").headers["ETag"] == etag
        saved = first.put("/api/admin/sources?message=from node 0", json=doc(source), headers={"If-Match": etag})
        assert saved.status_code == 200, saved.text
        read = second.get("/api/admin/sources")
        assert read.headers["ETag"] == saved.headers["ETag"] != etag
        assert read.json()["sources"][0]["id"] == "shared" and read.json()["message"] == "from node 0"
        stale = second.put("/api/admin/sources", json=doc(), headers={"If-Match": etag})
        assert stale.status_code == 409 and stale.json()["error"]["details"]["etag"] == saved.headers["ETag"]
        with ws(cluster.apis[0], "/ws/jobs", cluster.token) as stream:
            job_id = _refresh_from_both_nodes_at_once(first, second)
            updates = collect(stream, _refreshed("shared"), timeout=60)
        done = wait_for_job(first, job_id, {"SUCCEEDED", "FAILED"})
        assert done["state"] == "SUCCEEDED" and done["worker"].startswith("celery"), done
        assert updates and _refreshed("shared")(updates[-1]), updates
        assert updates[-1]["status"]["summary"] == "2 new, 0 unchanged, 0 failed", updates[-1]
        statuses = [client.get("/api/admin/sources").json()["sources"][0]["status"] for client in (first, second)]
        assert statuses[0] == statuses[1] and statuses[0]["job_id"] == job_id
        versions = second.get("/api/catalog/clustered/versions").json()
        listed = versions["items"] if isinstance(versions, dict) else versions
        assert {v["version"] for v in listed} == {"1.0.0", "1.1.0"}


def _refresh_from_both_nodes_at_once(first: httpx.Client, second: httpx.Client) -> int:
    """Both nodes asked at the same moment answer with the one job: one 202 (made it), and a 200 (that one, still
    queued or running) or a 429 (it already ended) for the other."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda client: client.post("/api/admin/sources/shared/refresh"), (first, second)))
    codes = sorted(answer.status_code for answer in answers)
    assert codes in ([200, 202], [202, 429]), [answer.text for answer in answers]
    jobs = {answer.json()["id"] for answer in answers if answer.status_code != 429}
    assert len(jobs) == 1, [answer.text for answer in answers]
    return int(jobs.pop())


def _refreshed(source_id: str) -> Any:
    def ended(message: dict[str, Any]) -> bool:
        return (
            message.get("type") == "sources.updated"
            and message["source_id"] == source_id
            and message["status"]["last_refresh_status"] is not None
        )

    return ended
