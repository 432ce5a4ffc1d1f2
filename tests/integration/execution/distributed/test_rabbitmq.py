"""The distributed mode with RabbitMQ as the Celery broker (Redis still carries events and cancels)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu.connection import Connection

from tests import services
from tests.helpers import (
    FIXTURE_CATALOG,
    PortalServer,
    WorkerProcess,
    distributed_env,
    process_alive,
    sleeper_pids,
    wait_for_job,
    wait_until,
)

QUEUES = ("default",)


def _delete_queues() -> None:
    """Queues left by an earlier run (perhaps declared with other arguments) would get in the way."""
    with Connection(services.RABBITMQ_URL) as conn:  # type: ignore[no-untyped-call]
        channel = conn.default_channel
        for queue in QUEUES:
            channel.queue_delete(queue)


@pytest.fixture
def rabbit_portal(tmp_path: Path) -> Iterator[PortalServer]:
    services.require("postgres", "redis", "rabbitmq")
    _delete_queues()
    with services.postgres_database() as database_url, services.redis_namespace() as namespace:
        env = {
            **distributed_env(database_url, namespace, services.REDIS_URL),
            "PORTAL_BROKER_URL": services.RABBITMQ_URL,
        }
        api = PortalServer(tmp_path / "api", env).start()
        worker = WorkerProcess(tmp_path / "worker", env)
        try:
            worker.start()
            assert api.cli("catalog", "import-local", str(FIXTURE_CATALOG)).returncode == 0
            yield api
        finally:
            worker.stop()
            api.stop()
            _delete_queues()


def test_jobs_run_and_cancel_through_rabbitmq(rabbit_portal: PortalServer) -> None:
    with rabbit_portal.client(rabbit_portal.token_for("admin")) as client:
        health = client.get("/api/admin/health/detailed").json()
        assert health["checks"]["broker"] == "ok"
        done = client.post("/api/jobs", json={"item_id": "noop", "inputs": {}}).json()
        assert wait_for_job(client, done["id"], {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"
        sleeper = client.post("/api/jobs", json={"item_id": "sleeper", "inputs": {}}).json()
        child, grandchild = sleeper_pids(client, sleeper["id"])
        assert client.post(f"/api/jobs/{sleeper['id']}/cancel").status_code == 200
        assert wait_for_job(client, sleeper["id"], {"CANCELLED", "FAILED", "SUCCEEDED"})["state"] == "CANCELLED"
        assert wait_until(lambda: not process_alive(child) and not process_alive(grandchild))
        queues = {q["queue"]: q for q in client.get("/api/admin/health/detailed").json()["queues"]}
        assert queues["default"]["broker_messages"] == 0  # RabbitMQ answered the depth query
