"""The parent side of the runner: start a confined child for a job, stream its events, enforce time and cancel.

Children are forked by a zygote (see zygote.py), one per runner, restarted if it dies. The parent reads the child's
event pipe and its stdout/stderr, throttles progress, and reports everything through callbacks; it never touches the
database itself (the executor does, through the job service). What confines each job comes from `isolation.py`.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from portal.execution.isolation import Isolation, JobConfinement
from portal.execution.policy import IsolationUnavailable, NetworkRefused, Policy, Protection
from portal.execution.requests import Limits, RunRequest
from portal.execution.supervision import EventCallback, OutputLimits, Supervision, with_usage
from portal.execution.zygote_client import RunnerLost, ZygoteClient
from portal.fs import remove_tree
from portal.jobs.schemas import RunResult

__all__ = ["Limits", "RunRequest", "RunResult", "Runner", "RunnerLost"]


class Runner:
    """Runs tasks in confined children; safe to use from many threads at once."""

    def __init__(
        self,
        *,
        scratch_root: Path,
        policy: Policy | None = None,
        log_max_lines: int = 2000,
        log_max_line_chars: int = 4000,
        progress_per_second: float = 10.0,
        result_max_bytes: int = 1_048_576,
    ) -> None:
        self.isolation = Isolation(policy or Policy(), scratch_root)
        self._zygote = ZygoteClient(self.isolation.zygote_config(), self.isolation.accept)
        self._output = OutputLimits(
            log_max_lines=log_max_lines,
            log_max_line_chars=log_max_line_chars,
            progress_interval=1.0 / progress_per_second if progress_per_second > 0 else 0.0,
            result_max_bytes=result_max_bytes,
        )

    def start(self) -> list[Protection]:
        """Start the zygote now (not on the first job) and say what protects the jobs; under
        PORTAL_JOB_ISOLATION=required, IsolationUnavailable when something is missing."""
        self._zygote.start()
        self.isolation.check()
        return self.isolation.protections

    @property
    def zygote_process(self) -> Any:
        return self._zygote.process

    def stop(self) -> None:
        """Stop the zygote; it kills any child still running."""
        self._zygote.stop()
        self.isolation.close()

    def run(self, request: RunRequest, on_event: EventCallback, cancel: threading.Event | None = None) -> RunResult:
        """Run one task to its end. `on_event` receives progress and log events; `cancel` kills it when set."""
        try:
            self._zygote.start()
            run = self.isolation.confine(request.job_id, request.bundle_dir, request.limits.memory_mb, request.network)
        except (NetworkRefused, IsolationUnavailable) as exc:
            return RunResult(error={"type": type(exc).__name__, "message": str(exc)})
        try:
            return self._run_confined(request, run, on_event, cancel)
        except IsolationUnavailable as exc:  # its zygote died, and the one started again was refused
            return RunResult(error={"type": type(exc).__name__, "message": str(exc)})
        finally:
            run.finish(clean=False)  # a no-op after the run's own finish; otherwise it went wrong before the child
            if run.host_workdir is not None:
                remove_tree(run.host_workdir)  # every process of the job is gone by now

    def _run_confined(
        self, request: RunRequest, run: JobConfinement, on_event: EventCallback, cancel: threading.Event | None
    ) -> RunResult:
        limits: dict[str, Any] = {
            "memory_mb": request.limits.memory_mb,
            "cpu_seconds": request.limits.cpu_seconds,
            "file_size_mb": request.limits.file_size_mb,
            "open_files": request.limits.open_files,
        }
        if "jail" in run.spec and run.spec.get("processes"):
            limits["processes"] = run.spec["processes"]
        spec = {
            **{k: v for k, v in run.spec.items() if k != "processes"},
            "bundle_dir": run.bundle_dir,
            "workdir": run.workdir,
            "limits": limits,
        }
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        events_r, events_w = os.pipe()
        child_fds = [stdin_r, stdout_w, stderr_w, events_w]
        try:
            request_id, exit_future = self._zygote.spawn(spec, child_fds)
        except BaseException:
            for fd in (stdin_w, stdout_r, stderr_r, events_r):
                os.close(fd)
            raise
        finally:
            for fd in child_fds:
                os.close(fd)
        # The environment (secrets among it) and the inputs go to the child alone, on its stdin: never through the
        # zygote, whose memory every later child starts as a copy of.
        payload = {
            "bundle_dir": run.bundle_dir,
            "entrypoint": request.entrypoint,
            "inputs": request.inputs,
            "env": self._child_env(request, run.workdir),
            "mode": request.mode,
        }
        supervision = Supervision(
            self._output,
            request.limits,
            lambda: self._zygote.kill(request_id),
            exit_future,
            (stdin_w, stdout_r, stderr_r, events_r),
            on_event,
            cancel,
        )
        try:
            outcome = supervision.run(json.dumps(payload).encode())
        except BaseException:
            run.finish(clean=supervision.exit_future.done())
            raise
        finally:
            self._zygote.forget(request_id)
        run.finish(clean=outcome.exit_status is not None)
        return with_usage(outcome, run, request.limits)

    @staticmethod
    def _child_env(request: RunRequest, workdir: str) -> dict[str, str]:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": workdir,
            "TMPDIR": workdir,
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PORTAL_JOB_ID": str(request.job_id),
        }
        env.update(request.env)
        return env
