"""A distributed portal made of real processes: API nodes and workers on one PostgreSQL database and one Redis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests import services
from tests.helpers import FIXTURE_CATALOG, PortalServer, WorkerProcess, distributed_env, write

ITEMS = {
    # A sleeper on its own queue whose runs may be repeated safely: the reaper re-queues it when its worker dies.
    "fragile-idempotent": "queue: fragile\nidempotent: true\n",
    # The same on the same queue, not idempotent: its run is failed when its worker dies.
    "fragile-once": "queue: fragile\n",
    # Priorities on a queue no worker listens to until the test starts one.
    "ordered-low": "queue: ordered\npriority: 1\n",
    "ordered-high": "queue: ordered\npriority: 8\n",
    # For the worker whose metrics a test reads.
    "metered": "queue: metered\n",
}
TASK = """import secrets
import subprocess
import time


def run(inputs, progress_callback):
    marker = f"300.{secrets.randbelow(10**9):09d}"
    subprocess.Popen(["sleep", marker])
    progress_callback(10, f"sleeping {marker}")
    time.sleep(float(inputs.get("seconds", 0)))
    return {"marker": marker}
"""


@dataclass
class Cluster:
    """Two API nodes and two workers (queue `default`); tests may add workers for other queues."""

    env: dict[str, str]
    root: Path
    apis: list[PortalServer] = field(default_factory=list)
    workers: list[WorkerProcess] = field(default_factory=list)
    token: str = ""

    def add_worker(self, **env: str) -> WorkerProcess:
        worker = WorkerProcess(self.root / f"worker-{len(self.workers)}", {**self.env, **env})
        self.workers.append(worker)
        return worker.start()

    def client(self, node: int) -> httpx.Client:
        return self.apis[node].client(self.token)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        for api in self.apis:
            api.stop()


def _items(root: Path) -> Path:
    for item_id, extra in ITEMS.items():
        write(
            root / "items" / item_id / "1.0.0",
            {
                "manifest.yaml": f"id: {item_id}\nname: {item_id}\nversion: 1.0.0\nentrypoint: task.py\n{extra}",
                "schema.json": '{"type": "object", "properties": {"seconds": {"type": "number"}}}',
                "task.py": TASK,
            },
        )
    return root


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    services.require("postgres", "redis")
    root = tmp_path_factory.mktemp("cluster")
    with services.postgres_database() as database_url, services.redis_namespace() as namespace:
        env = {**distributed_env(database_url, namespace, services.REDIS_URL), "PORTAL_GIT_ALLOW_FILE": "true"}
        cluster = Cluster(env, root)
        try:
            cluster.apis.append(PortalServer(root / "api-0", cluster.env).start())
            cluster.apis.append(PortalServer(root / "api-1", cluster.env).start())
            cluster.add_worker()
            cluster.add_worker()
            cluster.token = cluster.apis[0].token_for("admin")
            for catalog in (FIXTURE_CATALOG, _items(root / "catalog")):
                imported = cluster.apis[0].cli("catalog", "import-local", str(catalog))
                assert imported.returncode == 0, imported.stderr
            yield cluster
        finally:
            cluster.stop()
