"""Redis dies and comes back empty (no persistence) while jobs run and wait: no job is lost, none runs twice,
submits during the outage are accepted, and live updates resume."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from websockets.exceptions import ConnectionClosed

from tests import services
from tests.helpers import (
    FIXTURE_CATALOG,
    PortalServer,
    WorkerProcess,
    collect,
    distributed_env,
    finished,
    free_port,
    wait_for_job,
    wait_until,
    ws,
)


class PrivateRedis:
    """A redis-server of the test's own, without persistence, so a restart loses every message."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        assert wait_until(lambda: self._pings(client), timeout=10)
        client.close()

    @staticmethod
    def _pings(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        services.unavailable("redis-server is not installed (the restart test runs a Redis of its own)")
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_redis_restart_loses_no_job(private_redis: PrivateRedis, tmp_path: Path) -> None:
    services.require("postgres")
    with services.postgres_database() as database_url:
        env = distributed_env(database_url, "restart", private_redis.url)
        api = PortalServer(tmp_path / "api", env).start()
        worker = WorkerProcess(tmp_path / "worker", env)
        try:
            worker.start()
            token = api.token_for("admin")
            assert api.cli("catalog", "import-local", str(FIXTURE_CATALOG)).returncode == 0
            with api.client(token) as client, ws(api, "/ws/jobs", token) as stream:

                def launch(item_id: str, inputs: dict[str, object] | None = None) -> int:
                    response = client.post("/api/jobs", json={"item_id": item_id, "inputs": inputs or {}})
                    assert response.status_code == 201, response.text
                    return int(response.json()["id"])

                running = [launch("sleeper", {"seconds": 3}) for _ in range(2)]
                for job_id in running:
                    wait_for_job(client, job_id, {"RUNNING"})
                waiting = [launch("noop") for _ in range(5)]  # behind the sleepers: only in Redis
                private_redis.kill()
                during = [launch("noop") for _ in range(3)]  # accepted while the broker is away
                time.sleep(1)
                private_redis.start()
                jobs = [
                    wait_for_job(client, job_id, {"SUCCEEDED", "FAILED", "CANCELLED"}, timeout=90)
                    for job_id in [*running, *waiting, *during]
                ]
                # The server drops live streams that may have missed updates: the client reconnects and refetches.
                with pytest.raises(ConnectionClosed):
                    collect(stream, lambda _m: False, timeout=30)
            assert [j["state"] for j in jobs] == ["SUCCEEDED"] * len(jobs), [(j["id"], j["error"]) for j in jobs]
            for job in jobs:
                starts = [e for e in job["events"] if e["kind"] == "state" and e["to_state"] == "RUNNING"]
                assert len(starts) == 1, job["events"]
            with api.client(token) as client, ws(api, "/ws/jobs", token) as stream:
                response = client.post("/api/jobs", json={"item_id": "noop", "inputs": {}})
                job_id = int(response.json()["id"])
                updates = collect(stream, finished(job_id), timeout=30)
            assert updates and updates[-1]["job"]["state"] == "SUCCEEDED"
        finally:
            worker.stop()
            api.stop()
