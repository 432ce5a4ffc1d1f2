"""The runner's side of the zygote under load and when the zygote stops answering.

Many jobs asking for a child at once: the zygote answers on the socket the requests come in on, and a Unix socket
holds only a few messages unread. When a request was sent while holding the lock the reader needs to take an
answer, the zygote waited on the reader, the reader on the sender and the sender on the zygote: every run hung for
good (a thousand jobs at once stayed RUNNING, and the server could not stop)."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import threading
import time
from pathlib import Path

import pytest

from portal.execution import zygote_client
from portal.execution.host import raise_open_files_limit
from portal.execution.requests import Limits, RunRequest
from portal.execution.runner import Runner, RunnerLost
from portal.jobs.schemas import RunResult
from tests.helpers import kill_zygote, zygote_pids

JOBS = 400
SLEEPER = "import time\n\n\ndef run(inputs):\n    time.sleep(inputs['seconds'])\n    return 'slept'\n"


def _sleeper(tmp_path: Path) -> Path:
    folder = tmp_path / "sleeper"
    folder.mkdir()
    (folder / "task.py").write_text(SLEEPER)
    return folder


def _request(folder: Path, job_id: int, seconds: float) -> RunRequest:
    return RunRequest(
        job_id=job_id,
        bundle_dir=str(folder),
        entrypoint="task.py",
        inputs={"seconds": seconds},
        limits=Limits(memory_mb=128, cpu_seconds=30, file_size_mb=8, open_files=64, timeout_seconds=120),
    )


def test_many_spawn_requests_at_once_all_get_their_child(tmp_path: Path) -> None:
    folder = _sleeper(tmp_path)
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    raise_open_files_limit(JOBS)  # as the executor does for its slots: each run holds a few pipes here
    runner = Runner(scratch_root=tmp_path / "scratch")
    runner.start()
    results: list[RunResult | BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(JOBS)

    def one(job_id: int) -> None:
        request = _request(folder, job_id, 2)
        barrier.wait(timeout=60)
        try:
            outcome: RunResult | BaseException = runner.run(request, lambda event: None)
        except BaseException as exc:
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one, args=(job_id,), daemon=True) for job_id in range(1, JOBS + 1)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 90
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    hung = sum(thread.is_alive() for thread in threads)
    if hung:
        kill_zygote(runner)  # the hung sender gets an error and lets go: the runner can stop
    runner.stop()
    resource.setrlimit(resource.RLIMIT_NOFILE, limits)
    assert hung == 0, f"{hung} of {JOBS} runs still waiting for the zygote after 90 s"
    failures = [r for r in results if not isinstance(r, RunResult) or not r.succeeded]
    assert len(results) == JOBS
    assert failures == [], failures[:3]


def test_a_zygote_that_answers_nothing_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zygote_client, "SPAWN_SECONDS", 3.0)
    folder = _sleeper(tmp_path)
    runner = Runner(scratch_root=tmp_path / "scratch")
    runner.start()
    stopped = zygote_pids(runner)
    try:
        assert runner.run(_request(folder, 1, 0), lambda event: None).succeeded
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)  # alive, holding its socket, answering nothing
        with pytest.raises(RunnerLost, match="did not answer within 3 s"):
            runner.run(_request(folder, 2, 0), lambda event: None)
        assert runner.run(_request(folder, 3, 0), lambda event: None).succeeded  # on a new zygote
        assert zygote_pids(runner) != stopped
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        runner.stop()
