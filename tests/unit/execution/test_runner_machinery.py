"""The runner's own machinery against tasks that attack it: the child forked ahead of each job, the cgroups reused
from job to job, the kernel memory a job's sockets hold, what the kernel counts per process, and a sandbox started
again after its zygote died. Each test is an attack that must fail."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.execution.isolation import Isolation
from portal.execution.policy import Policy
from portal.execution.runner import Limits, Runner, RunRequest, RunResult
from tests.helpers import kill_zygote
from tests.services import unavailable

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="per-job uids and cgroup v1 need root on this machine")


def limits(memory_mb: int = 256) -> Limits:
    return Limits(memory_mb=memory_mb, cpu_seconds=60, file_size_mb=8, open_files=256, timeout_seconds=60)


def bundle(tmp_path: Path, name: str, source: str) -> str:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "task.py").write_text(source)
    return str(folder)


def run(
    runner: Runner,
    folder: str,
    inputs: dict[str, Any] | None = None,
    memory_mb: int = 256,
    network: dict[str, Any] | None = None,
) -> RunResult:
    request = RunRequest(
        job_id=1,
        bundle_dir=folder,
        entrypoint="task.py",
        inputs=inputs or {},
        limits=limits(memory_mb),
        network=network,
    )
    return runner.run(request, lambda event: None)


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    r = Runner(scratch_root=tmp_path / "scratch")
    r.start()
    yield r
    r.stop()


def protection(runner: Runner, name: str) -> tuple[bool, str]:
    found = next(p for p in runner.isolation.protections if p.name == name)
    return found.on, found.detail


FRAMES = """
import gc
import sys


def run(inputs):
    seen = []
    frame = sys._getframe()
    while frame is not None:
        seen.append(repr(frame.f_locals))
        frame = frame.f_back
    texts = [repr(o) for o in gc.get_objects() if isinstance(o, dict) and ("spec" in o or "bundle" in o)]
    return {"frames": seen, "objects": texts}
"""


def test_the_child_forked_ahead_keeps_nothing_of_the_job_before(runner: Runner, tmp_path: Path) -> None:
    """The next job's process is forked while the zygote serves this one: it must not start with this job's
    request in its memory (which item another user runs, its uid, its network grant)."""
    earlier = bundle(tmp_path, "another-users-item", "def run(inputs):\n    return 1\n")
    assert run(runner, earlier, network={"tcp_ports": [4321]}).succeeded
    spy = run(runner, bundle(tmp_path, "spy", FRAMES))
    assert spy.succeeded, spy.error
    text = json.dumps(spy.result)
    assert "another-users-item" not in text and "4321" not in text


PIPE_FDS_IN_A_CYCLE = """
import os
import socket


def run(inputs):
    a, b = socket.socketpair()
    held = 0
    for i in range(inputs["count"]):
        fd = os.memfd_create(f"m{i}")
        try:
            os.write(fd, b"z" * ((8 << 20) - 4096))
        except OSError:
            os.close(fd)
            break
        socket.send_fds(a, [b"x"], [fd])
        os.close(fd)
        held += 1
    # Both ends sent into each other: a cycle only the kernel's collector frees, after the job has ended.
    socket.send_fds(a, [b"c"], [a.fileno(), b.fileno()])
    return held
"""


@needs_root
def test_memory_a_job_leaves_charged_never_fails_the_next_job(runner: Runner, tmp_path: Path) -> None:
    if not protection(runner, "memory_limit")[0]:
        unavailable(protection(runner, "memory_limit")[1])
    hoarder = bundle(tmp_path, "hoarder", PIPE_FDS_IN_A_CYCLE)
    plain = bundle(tmp_path, "plain", "def run(inputs):\n    return 'ran'\n")
    for _ in range(3):
        first = run(runner, hoarder, {"count": 60}, memory_mb=512)
        assert first.succeeded and first.result > 30, first.error
        # A smaller limit than what the hoarder left charged: its cgroup cannot serve this job, another does.
        after = run(runner, plain, memory_mb=256)
        assert after.succeeded and after.result == "ran", after.error


SOCKET_HOARDER = """
import os
import socket
import time


def hoard(pairs):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held, queued, chunk = [], 0, b"x" * (1 << 20)
    for _ in range(pairs):
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        client.connect(listener.getsockname())
        server, _ = listener.accept()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        client.setblocking(False)
        held.append((client, server))
    for _ in range(4):
        for client, _server in held:
            try:
                while True:
                    queued += client.send(chunk)
            except OSError:
                pass
    return held, queued


def run(inputs):
    read, write = os.pipe()
    children = []
    for _ in range(inputs["processes"]):
        pid = os.fork()
        if pid == 0:
            try:
                keep, queued = hoard(inputs["pairs"])
            except BaseException:
                queued = -1
            os.write(write, f"{queued}\\n".encode())
            time.sleep(30)  # holding its sockets until the parent has every count
            os._exit(0)
        children.append(pid)
    counts = []
    with os.fdopen(read) as lines:
        while len(counts) < len(children):
            counts.append(int(lines.readline()))
    for pid in children:
        os.kill(pid, 9)
    return {"queued_mb": sum(max(0, c) for c in counts) >> 20, "counts": counts}
"""


@needs_root
def test_socket_buffers_count_against_the_jobs_memory(runner: Runner, tmp_path: Path) -> None:
    """Unread TCP buffers over the job's own loopback are kernel memory: charged to the job, not the host."""
    if not protection(runner, "memory_limit")[0]:
        unavailable(protection(runner, "memory_limit")[1])
    outcome = run(runner, bundle(tmp_path, "hoarder", SOCKET_HOARDER), {"processes": 6, "pairs": 24})
    assert outcome.succeeded, outcome.error
    # Without the limit this queues gigabytes (up to the host's net.ipv4.tcp_mem); the job has 256 MB.
    assert 0 < outcome.result["queued_mb"] < 2 * 256, outcome.result


DATAGRAMS = """
import socket


def run(inputs):
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"x", ("127.0.0.1", 9))
    except OSError as exc:
        return exc.errno
    return 0
"""


def test_a_job_without_network_has_no_datagram_sockets(runner: Runner, tmp_path: Path) -> None:
    if not protection(runner, "seccomp")[0]:
        unavailable(protection(runner, "seccomp")[1])
    task = bundle(tmp_path, "datagrams", DATAGRAMS)
    assert run(runner, task).result == 1  # EPERM
    assert run(runner, task, network={}).result == 0  # DNS needs them, when the job may use the network


FORK_UNTIL_REFUSED = """
import os
import time


def run(inputs):
    forked = 0
    try:
        while forked < 10_000:
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
            forked += 1
    except OSError:
        pass  # it carries on as if nothing happened
    return forked
"""


@needs_root
def test_a_job_that_carries_on_after_its_process_limit_is_still_reported(runner: Runner, tmp_path: Path) -> None:
    on, detail = protection(runner, "process_limit")
    if "cgroup" not in detail:
        unavailable(f"no cgroup counts refused forks here: {detail}")
    outcome = run(runner, bundle(tmp_path, "forker", FORK_UNTIL_REFUSED))
    assert on and not outcome.succeeded
    assert outcome.error is not None and outcome.error["type"] == "ProcessLimitExceeded", outcome.error


SECCOMP_MODE = """
import os


def run(inputs):
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    return {"seccomp": status["Seccomp"].strip(), "uid": os.getuid()}
"""


@needs_root
def test_without_a_private_view_jobs_still_get_seccomp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe must see what holds even when Landlock keeps it from /proc (no template to give it one)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    config = Isolation.zygote_config
    monkeypatch.setattr(Isolation, "zygote_config", lambda self: {**config(self), "root": str(blocker)})
    r = Runner(scratch_root=tmp_path / "scratch")
    try:
        r.start()
        assert not protection(r, "filesystem_view")[0]
        assert protection(r, "seccomp")[0], protection(r, "seccomp")
        outcome = run(r, bundle(tmp_path, "mode", SECCOMP_MODE))
        assert outcome.succeeded and outcome.result["seccomp"] == "2", (outcome.result, outcome.error)
    finally:
        r.stop()


@needs_root
@pytest.mark.parametrize("mode", ["auto", "required"])
def test_a_sandbox_started_again_with_less_protection_runs_no_job(tmp_path: Path, mode: str) -> None:
    """A zygote that dies is started again at the next job; should that one protect less (here its template
    cannot be built any more), jobs fail instead of running less confined than the portal reported."""
    scratch = tmp_path / "scratch"
    r = Runner(scratch_root=scratch, policy=Policy(mode=mode))
    try:
        r.start()
        task = bundle(tmp_path, "mode", SECCOMP_MODE)
        assert run(r, task).succeeded
        kill_zygote(r)
        jail = scratch / ".jail"
        jail.rmdir()
        jail.write_text("")
        refused = run(r, task)
        assert not refused.succeeded and refused.error is not None
        assert refused.error["type"] == "IsolationUnavailable" and "filesystem_view" in refused.error["message"]
        jail.unlink()
        jail.mkdir()
        again = run(r, task)  # the cause gone, the next start gives every protection again
        assert again.succeeded and again.result["uid"] != 0, again.error
    finally:
        r.stop()
