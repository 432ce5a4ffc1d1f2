"""The sandboxed runner on its own: isolation, limits, events, failures, timeout and cancel."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.execution.runner import Limits, Runner, RunRequest, RunResult
from tests.helpers import FIXTURE_CATALOG, process_alive, sleeper_marker, wait_for_marked, wait_until

ITEMS = FIXTURE_CATALOG / "items"
LIMITS = Limits(memory_mb=512, cpu_seconds=30, file_size_mb=8, open_files=64, timeout_seconds=20)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    r = Runner(scratch_root=tmp_path_factory.mktemp("scratch"), log_max_lines=50, progress_per_second=10)
    yield r
    r.stop()


def run(
    runner: Runner,
    tmp_path: Path,
    bundle: Path,
    inputs: dict[str, Any] | None = None,
    *,
    limits: Limits = LIMITS,
    cancel: threading.Event | None = None,
    entrypoint: str = "task.py",
) -> tuple[RunResult, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    request = RunRequest(job_id=7, bundle_dir=str(bundle), entrypoint=entrypoint, inputs=inputs or {}, limits=limits)
    return runner.run(request, recorder(events), cancel), events


def recorder(events: list[dict[str, Any]]) -> Any:
    """An event callback that keeps the events; the sleeper's first progress event gets the host pids of its
    processes, found by its marker while they run."""

    def record(event: dict[str, Any]) -> None:
        marker = sleeper_marker(event["message"]) if event["type"] == "progress" else None
        events.append({**event, "pids": wait_for_marked(marker)} if marker else event)

    return record


def write_task(tmp_path: Path, source: str, name: str = "task.py") -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir(exist_ok=True)
    (bundle / name).write_text(source)
    return bundle


def test_success_returns_result_and_logs(runner: Runner, tmp_path: Path) -> None:
    outcome, events = run(runner, tmp_path, ITEMS / "inspector" / "1.0.0", {"x": 1})
    assert outcome.succeeded, outcome.error
    result = outcome.result
    assert result["inputs"] == {"x": 1}
    lines = [line for e in events if e["type"] == "logs" for line in e["lines"]]
    assert {"stream": "stdout", "line": "inspecting"} in lines
    assert {"stream": "stderr", "line": "to stderr"} in lines


def test_child_is_sandboxed(runner: Runner, tmp_path: Path) -> None:
    os.environ["PORTAL_TEST_SECRET"] = "must-not-leak"
    try:
        outcome, _ = run(runner, tmp_path, ITEMS / "inspector" / "1.0.0")
    finally:
        del os.environ["PORTAL_TEST_SECRET"]
    result = outcome.result
    assert set(result["env"]) == {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONDONTWRITEBYTECODE", "PORTAL_JOB_ID"}
    assert result["cwd"] == "/job/scratch"
    assert result["pgid"] == result["pid"] == result["sid"] == 1  # the first process of its own PID namespace
    assert result["rlimit_as"] == 512 * 1024 * 1024
    assert result["rlimit_cpu"] == 30
    assert result["rlimit_fsize"] == 8 * 1024 * 1024
    assert result["rlimit_nofile"] == 64
    assert result["flags_isolated"] == 1
    assert result["sys_path_has_site_packages"] is False


def test_exception_fails_with_type_message_and_trimmed_traceback(runner: Runner, tmp_path: Path) -> None:
    bundle = write_task(tmp_path, "def run(inputs):\n    raise KeyError('missing-thing')\n")
    outcome, _ = run(runner, tmp_path, bundle)
    assert not outcome.succeeded
    assert outcome.error is not None
    assert outcome.error["type"] == "KeyError"
    assert "missing-thing" in outcome.error["message"]
    assert "task.py" in outcome.error["traceback"]
    assert "child.py" not in outcome.error["traceback"]


def test_syntax_error_in_imported_module_fails_cleanly(runner: Runner, tmp_path: Path) -> None:
    outcome, _ = run(runner, tmp_path, ITEMS / "broken-import" / "1.0.0")
    assert outcome.error is not None and outcome.error["type"] == "SyntaxError"


def test_garbage_on_event_pipe_is_a_protocol_error(runner: Runner, tmp_path: Path) -> None:
    outcome, _ = run(runner, tmp_path, ITEMS / "garbage-writer" / "1.0.0")
    assert outcome.error is not None and outcome.error["type"] == "ProtocolError"
    assert "this is not json" in outcome.error["message"]


def test_result_that_is_not_json_fails(runner: Runner, tmp_path: Path) -> None:
    outcome, _ = run(runner, tmp_path, ITEMS / "bad-result" / "1.0.0")
    assert outcome.error is not None and outcome.error["type"] == "TypeError"
    assert "JSON" in outcome.error["message"]


def test_exit_without_result(runner: Runner, tmp_path: Path) -> None:
    outcome, _ = run(runner, tmp_path, ITEMS / "silent-exit" / "1.0.0")
    assert outcome.error == {
        "type": "ProcessExited",
        "message": "the task process exited with status 3 without a result",
    }


def test_memory_limit(runner: Runner, tmp_path: Path) -> None:
    limits = Limits(memory_mb=200, cpu_seconds=30, file_size_mb=8, open_files=64, timeout_seconds=20)
    outcome, _ = run(runner, tmp_path, ITEMS / "memory-hog" / "1.0.0", limits=limits)
    assert outcome.error is not None and outcome.error["type"] == "MemoryError"


def test_cpu_limit(runner: Runner, tmp_path: Path) -> None:
    bundle = write_task(tmp_path, "def run(inputs):\n    while True:\n        pass\n")
    limits = Limits(memory_mb=256, cpu_seconds=1, file_size_mb=8, open_files=64, timeout_seconds=30)
    outcome, _ = run(runner, tmp_path, bundle, limits=limits)
    assert outcome.error is not None and outcome.error["type"] == "CpuLimitExceeded"


def test_file_size_limit(runner: Runner, tmp_path: Path) -> None:
    bundle = write_task(tmp_path, "def run(inputs):\n    open('big', 'wb').write(b'x' * (2 * 1024 * 1024))\n")
    limits = Limits(memory_mb=256, cpu_seconds=10, file_size_mb=1, open_files=64, timeout_seconds=30)
    outcome, _ = run(runner, tmp_path, bundle, limits=limits)
    assert outcome.error is not None and outcome.error["type"] == "OSError"
    assert "File too large" in outcome.error["message"]


def sleeper_pids(events: list[dict[str, Any]]) -> tuple[int, int] | None:
    """The host pids of the sleeper item's task and grandchild, as `recorder` found them."""
    return next((event["pids"] for event in list(events) if event.get("pids")), None)


def sleeper_request() -> RunRequest:
    return RunRequest(
        job_id=7, bundle_dir=str(ITEMS / "sleeper" / "1.0.0"), entrypoint="task.py", inputs={}, limits=LIMITS
    )


def test_timeout_kills_the_process_group(runner: Runner, tmp_path: Path) -> None:
    limits = Limits(memory_mb=256, cpu_seconds=30, file_size_mb=8, open_files=64, timeout_seconds=1.5)
    outcome, events = run(runner, tmp_path, ITEMS / "sleeper" / "1.0.0", limits=limits)
    assert outcome.error is not None and outcome.error["type"] == "Timeout"
    pids = sleeper_pids(events)
    assert pids is not None
    child, grandchild = pids
    assert wait_until(lambda: not process_alive(child) and not process_alive(grandchild))


def test_cancel_kills_child_and_grandchild(runner: Runner, tmp_path: Path) -> None:
    cancel = threading.Event()
    result: list[RunResult] = []
    events: list[dict[str, Any]] = []
    request = sleeper_request()
    thread = threading.Thread(target=lambda: result.append(runner.run(request, recorder(events), cancel)))
    thread.start()
    assert wait_until(lambda: sleeper_pids(events) is not None, timeout=10)
    child, grandchild = sleeper_pids(events) or (0, 0)
    assert process_alive(child) and process_alive(grandchild)
    cancel.set()
    thread.join(timeout=10)
    assert result and result[0].cancelled
    assert wait_until(lambda: not process_alive(child) and not process_alive(grandchild))


def test_logs_are_bounded(runner: Runner, tmp_path: Path) -> None:
    outcome, events = run(runner, tmp_path, ITEMS / "chatty" / "1.0.0", {"lines": 500})
    assert outcome.succeeded
    lines = [line for e in events if e["type"] == "logs" for line in e["lines"]]
    assert len(lines) == 51
    assert lines[-1] == {"stream": "system", "line": "[log truncated after 50 lines]"}


def test_progress_is_throttled_and_keeps_the_last(runner: Runner, tmp_path: Path) -> None:
    outcome, events = run(runner, tmp_path, ITEMS / "chatty" / "1.0.0", {"lines": 0, "progress_steps": 50})
    assert outcome.succeeded
    progress = [e for e in events if e["type"] == "progress"]
    assert 1 <= len(progress) < 50
    assert progress[-1]["percent"] == 100


def test_sync_and_async_callbacks_awaited_or_not(runner: Runner, tmp_path: Path) -> None:
    bundle = write_task(
        tmp_path,
        (
            "async def run(inputs, progress_callback=None):\n"
            "    await progress_callback(10, 'awaited')\n"
            "    progress_callback(20, 'not awaited')\n"
            "    return {'ok': True}\n"
        ),
    )
    outcome, events = run(runner, tmp_path, bundle)
    assert outcome.succeeded and outcome.result == {"ok": True}
    assert [e["percent"] for e in events if e["type"] == "progress"][-1] == 20


def test_module_function_entrypoint(runner: Runner, tmp_path: Path) -> None:
    bundle = write_task(tmp_path, "def main(inputs):\n    return {'via': 'module'}\n", name="jobs.py")
    outcome, _ = run(runner, tmp_path, bundle, entrypoint="jobs:main")
    assert outcome.result == {"via": "module"}


def test_runner_survives_its_zygote_dying(runner: Runner, tmp_path: Path) -> None:
    bundle = write_task(tmp_path, "def run(inputs):\n    return 1\n")
    runner.start()
    zygote = runner.zygote_process
    assert zygote is not None
    zygote.kill()
    zygote.wait()
    outcome, _ = run(runner, tmp_path, bundle)  # asked again of a new zygote if the old one was still going
    assert outcome.succeeded and outcome.result == 1


def test_background_process_left_behind_does_not_hold_the_job(runner: Runner, tmp_path: Path) -> None:
    outcome, events = run(runner, tmp_path, ITEMS / "sleeper" / "1.0.0", {"seconds": 0.2})
    # Success, not a Timeout after LIMITS' 20 s: the grandchild's 300 s did not keep the pipes open.
    assert outcome.succeeded and outcome.result == {"slept": True}
    _, grandchild = sleeper_pids(events) or (0, 0)
    assert grandchild
    assert wait_until(lambda: not process_alive(grandchild))


def test_cancel_holds_after_the_task_closes_its_pipes(runner: Runner, tmp_path: Path) -> None:
    bundle = write_task(
        tmp_path,
        "import os, time\n\ndef run(inputs):\n    for fd in (1, 2, 3):\n        os.close(fd)\n    time.sleep(60)\n",
    )
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    outcome, _ = run(runner, tmp_path, bundle, cancel=cancel)
    assert outcome.cancelled  # not RunnerLost after the timeout: cancel was seen without the pipes


def test_timeout_holds_after_the_task_closes_its_pipes(runner: Runner, tmp_path: Path) -> None:
    bundle = write_task(
        tmp_path,
        "import os, time\n\ndef run(inputs):\n    for fd in (1, 2, 3):\n        os.close(fd)\n    time.sleep(60)\n",
    )
    limits = Limits(memory_mb=256, cpu_seconds=30, file_size_mb=8, open_files=64, timeout_seconds=1)
    outcome, _ = run(runner, tmp_path, bundle, limits=limits)
    assert outcome.error is not None and outcome.error["type"] == "Timeout"


def test_endless_output_without_newlines_is_bounded(runner: Runner, tmp_path: Path) -> None:
    bundle = write_task(
        tmp_path,
        "import sys\n\ndef run(inputs):\n"
        "    for _ in range(200):\n        sys.stdout.write('x' * 100_000)\n"
        "    sys.stdout.flush()\n    return 'done'\n",
    )
    outcome, events = run(runner, tmp_path, bundle)
    assert outcome.succeeded and outcome.result == "done"
    lines = [line["line"] for e in events if e["type"] == "logs" for line in e["lines"]]
    assert lines and all(len(line) <= 4000 for line in lines)


def test_oversized_event_line_ends_the_task(tmp_path: Path) -> None:
    small = Runner(scratch_root=tmp_path / "scratch", result_max_bytes=1000)
    try:
        bundle = write_task(
            tmp_path, "import os, time\n\ndef run(inputs):\n    os.write(3, b'{' * 200_000)\n    time.sleep(60)\n"
        )
        outcome, _ = run(small, tmp_path, bundle)
    finally:
        small.stop()
    assert outcome.error is not None and outcome.error["type"] == "ResultTooLarge"


def test_a_failing_event_callback_never_leaves_the_child_running(runner: Runner, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    record = recorder(seen)

    def on_event(event: dict[str, Any]) -> None:
        record(event)
        if sleeper_pids(seen):
            raise RuntimeError("the database is gone")

    request = sleeper_request()
    with pytest.raises(RuntimeError, match="database is gone"):
        runner.run(request, on_event)
    child, grandchild = sleeper_pids(seen) or (0, 0)
    assert wait_until(lambda: not process_alive(child) and not process_alive(grandchild))


def test_a_cancel_that_comes_before_the_task_starts_still_ends_it(runner: Runner, tmp_path: Path) -> None:
    # Set before the child even has its own process group: the kill must be repeated until it lands
    # (without the repeat this run would sleep for the hour and the test would hit pytest's timeout).
    bundle = write_task(tmp_path, "import time\n\ndef run(inputs):\n    time.sleep(3600)\n")
    cancel = threading.Event()
    cancel.set()
    outcome, _ = run(runner, tmp_path, bundle, cancel=cancel)
    assert outcome.cancelled
    assert outcome.exit_status is not None and outcome.exit_status < 0  # killed, not finished
