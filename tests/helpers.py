"""Test helpers: a real `portal serve` subprocess, API clients with tokens, and waiting for job states."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy
from websockets.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
PORTAL = str(Path(sys.executable).parent / "portal")
FIXTURE_CATALOG = ROOT / "tests" / "fixtures" / "catalog"
EXAMPLES = ROOT / "examples" / "catalog"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PortalServer:
    """A `portal serve` process on its own port and data directory."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, command: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.command = command or [PORTAL]  # how to run `portal` (as another user, with another interpreter)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PORTAL_DATA_DIR": str(data_dir),
            "PORTAL_WORKER_SLOTS": "2",
            "PORTAL_CATALOG_LOCAL_ROOTS": f"{EXAMPLES},{FIXTURE_CATALOG}",
            "PORTAL_DEV": "1",
            "PORTAL_WS_PING_SECONDS": "1",
            # Streams must follow credential changes through events: the timer is tested on its own.
            "PORTAL_WS_RECHECK_SECONDS": "600",
            "PORTAL_APPROVAL_CHECK_SECONDS": "0.5",
            "PORTAL_SCHEDULER_POLL_SECONDS": "0.5",
            "PORTAL_SCHEDULER_MIN_INTERVAL_SECONDS": "1",
            # The tests' users submit in bursts; the limit is tested with a server of its own.
            "PORTAL_JOB_SUBMIT_RATE_PER_MINUTE": "100000",
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"

    def start(self, timeout: float = 30.0) -> PortalServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 (the process owns it until it stops)
        self.proc = subprocess.Popen(
            [*self.command, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"portal serve exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"portal serve did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, *args], env=self.env, input=stdin, capture_output=True, text=True, timeout=60
        )

    @property
    def admin_password(self) -> str:
        return (self.data_dir / "initial-admin-password").read_text().strip()

    def token_for(self, username: str) -> str:
        result = self.cli("tokens", "create", username, "--name", "tests")
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    @contextmanager
    def session(self, username: str, password: str) -> Iterator[httpx.Client]:
        """A client logged in like a browser: the session cookie, and the CSRF header on every request."""
        with httpx.Client(base_url=self.url, timeout=30) as client:
            response = client.post("/api/auth/login", json={"username": username, "password": password})
            assert response.status_code == 200, response.text
            client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
            yield client

    def sql(self, statement: str, **params: Any) -> None:
        """Change the portal's database behind its back (to make time pass, say), then let it go."""
        url = self.env.get("PORTAL_DATABASE_URL") or f"sqlite:///{(self.data_dir / 'portal.db').resolve()}"
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.begin() as connection:
                connection.execute(sqlalchemy.text(statement), params)
        finally:
            engine.dispose()

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


# One key for every distributed test portal: nodes of a cluster must share it.
TEST_SECRETS_KEY = "h3lY0ZCm1oHvnGmJ7rlt6mDsfGmHgQ7Lqgq8wG8k7xY="


def distributed_env(database_url: str, namespace: str, redis_url: str) -> dict[str, str]:
    """The settings of a node of a distributed test portal (fast heartbeats so lost workers are seen quickly)."""
    return {
        "PORTAL_EXECUTOR": "celery",
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_REDIS_URL": redis_url,
        "PORTAL_REDIS_NAMESPACE": namespace,
        "PORTAL_SECRETS_KEY": TEST_SECRETS_KEY,
        "PORTAL_BUNDLE_STORE": "database",
        "PORTAL_WORKER_CONCURRENCY": "2",
        "PORTAL_WORKER_HEARTBEAT_SECONDS": "1",
        "PORTAL_WORKER_LOST_AFTER_SECONDS": "5",
        "PORTAL_RECOVERY_SECONDS": "2",
    }


class WorkerProcess:
    """A `portal worker` process (distributed mode) with its own data directory (scratch and bundle cache)."""

    def __init__(self, data_dir: Path, env: dict[str, str], command: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.command = command or [PORTAL]
        self.env = {**os.environ, "PORTAL_DATA_DIR": str(data_dir), **env}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "worker.log"

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 (the process owns it until it stops)
        self.proc = subprocess.Popen(
            [*self.command, "worker", "--log-level", "info"], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"portal worker exited early:\n{self.log()}")
            if " ready." in self.log():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"portal worker did not become ready:\n{self.log()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def wait_for_job(client: httpx.Client, job_id: int, states: Iterable[str], timeout: float = 30.0) -> dict[str, Any]:
    """Poll a job until it reaches one of `states` (tests only; the product pushes updates over WebSocket)."""
    wanted = set(states)
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get(f"/api/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job = response.json()
        if job["state"] in wanted:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not reach {wanted}; last seen: {json.dumps(job)[:2000]}")


def process_alive(pid: int) -> bool:
    """True while a process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def zygote_pids(runner: Any) -> list[int]:
    """A Runner's zygote: the first process of its PID namespace under the process the runner started, or that
    process itself where the kernel gives it no PID namespace."""
    keeper = runner.zygote_process
    below = Path(f"/proc/{keeper.pid}/task/{keeper.pid}/children").read_text().split()
    return [int(pid) for pid in below] or [keeper.pid]


def kill_zygote(runner: Any) -> None:
    """SIGKILL a Runner's zygote (and with it every child it forked); the process the runner started ends too."""
    keeper = runner.zygote_process
    os.kill(zygote_pids(runner)[0], signal.SIGKILL)
    assert wait_until(lambda: keeper.poll() is not None, timeout=10)


def marked_processes(marker: str) -> tuple[int, int] | None:
    """(task, grandchild): the host pids of the sleeper's `sleep MARKER` and of the process that started it."""
    wanted = b"sleep\0" + marker.encode() + b"\0"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if fh.read() != wanted:
                    continue
            with open(f"/proc/{entry}/status") as fh:
                ppid = next(int(line.split()[1]) for line in fh if line.startswith("PPid:"))
        except (OSError, StopIteration):
            continue
        return ppid, int(entry)
    return None


def wait_for_marked(marker: str, timeout: float = 5.0) -> tuple[int, int] | None:
    """`marked_processes`, waited for: right after `Popen` returns, the new program's arguments may not be set yet
    (the exec is still loading it), so a process found a moment later was there all along."""
    deadline = time.monotonic() + timeout
    while (pids := marked_processes(marker)) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return pids


def sleeper_marker(message: str) -> str | None:
    """The marker in the sleeper item's progress message, once it runs."""
    return message.split()[1] if message.startswith("sleeping ") else None


def sleeper_pids(client: httpx.Client, job_id: int, timeout: float = 30.0) -> tuple[int, int]:
    """The host pids of a running sleeper job's task process and of the grandchild it started."""
    found: list[tuple[int, int]] = []

    def reported() -> bool:
        marker = sleeper_marker(str(client.get(f"/api/jobs/{job_id}").json()["message"]))
        pids = wait_for_marked(marker) if marker else None
        if pids:
            found.append(pids)
        return bool(found)

    assert wait_until(reported, timeout=timeout), f"job {job_id} never reported its marker"
    return found[0]


def item_files(item_id: str, version: str, result: str = "ok", extra_manifest: str = "") -> dict[str, str]:
    return {
        "manifest.yaml": f"id: {item_id}\nname: {item_id}\nversion: {version}\nentrypoint: task.py\n{extra_manifest}",
        "schema.json": json.dumps({"type": "object", "properties": {"n": {"type": "integer"}}}),
        "task.py": f"def run(inputs):\n    return {{'result': {result!r}, 'version': '{version}'}}\n",
        "README.md": f"# {item_id}\n",
    }


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PATH": "/usr/bin:/bin",
        "HOME": str(repo),
    }
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def ws(server: PortalServer, path: str, token: str | None = None, **headers: str) -> ClientConnection:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return connect(f"{server.ws_url}{path}", additional_headers=headers, open_timeout=10)


def collect(conn: ClientConnection, until: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Read messages until `until(message)` is true (inclusive) or the timeout passes."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message = json.loads(conn.recv(timeout=max(0.01, deadline - time.monotonic())))
        except TimeoutError:
            break
        messages.append(message)
        if until(message):
            break
    return messages


def finished(job_id: int) -> Any:
    return lambda m: (
        m.get("type") == "job.updated"
        and m["job"]["id"] == job_id
        and m["job"]["state"] in ("SUCCEEDED", "FAILED", "CANCELLED")
    )


def targz(files: Mapping[str, bytes | str], *, wrap: str = "") -> bytes:
    """A .tar.gz of the files (their names prefixed with `wrap`), as an upload would send it."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in files.items():
            payload = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(f"{wrap}{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return raw.getvalue()


def upload(
    client: httpx.Client,
    data: bytes,
    path: str = "/api/catalog/bundle/upload",
    name: str = "bundle.tar.gz",
    **form: str,
) -> httpx.Response:
    """Upload a bundle the way the UI does (multipart, field `file`)."""
    return client.post(path, files={"file": (name, data, "application/gzip")}, data=form)
