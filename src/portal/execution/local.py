"""The embedded executor: N slot threads claim jobs from the jobs table and run them through the sandboxed runner."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

from portal.auth.principal import Principal
from portal.auth.roles import Role
from portal.catalog import service as catalog_service
from portal.catalog.bundles import force_remove
from portal.catalog.importers import git as git_importer
from portal.catalog.validate import check_folder, input_errors
from portal.db.base import utcnow
from portal.errors import PortalError, ValidationFailed
from portal.execution import workers
from portal.execution.child import landlock_abi
from portal.execution.runner import Limits, Runner, RunRequest
from portal.jobs import control
from portal.jobs import service as jobs_service
from portal.secrets import crypto
from portal.secrets import service as secrets_service
from portal.secrets.masking import Masker
from portal.settings import Settings

log = logging.getLogger(__name__)

KIND = "embedded"
_FINISH_ATTEMPTS = 5


def limits_for(settings: Settings, resources: dict[str, Any] | None, timeout_seconds: float) -> Limits:
    """A job's limits: the settings, lowered where the item's `resources` ask for less (never raised)."""
    wanted = resources or {}
    return Limits(
        memory_mb=min(int(wanted.get("memory_mb") or settings.job_memory_mb), settings.job_memory_mb),
        cpu_seconds=min(int(wanted.get("cpu_seconds") or settings.job_cpu_seconds), settings.job_cpu_seconds),
        file_size_mb=settings.job_file_size_mb,
        open_files=settings.job_open_files,
        timeout_seconds=float(timeout_seconds),
    )


class LocalExecutor:
    """Runs queued jobs in this process's slot threads; wakes at once on submit and checks the table every second."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.slots = settings.worker_slots
        self.worker_id = workers.new_worker_id(KIND)
        self.runner = Runner(
            log_max_lines=settings.job_log_max_lines,
            log_max_line_chars=settings.job_log_max_line_chars,
            progress_per_second=settings.job_progress_per_second,
            result_max_bytes=settings.job_result_max_bytes,
            filesystem_sandbox=settings.job_filesystem_sandbox,
        )
        self._wake = threading.Condition()
        self._generation = 0
        self._stopping = threading.Event()
        self._running: dict[int, threading.Event] = {}
        self._threads: list[threading.Thread] = []
        self.started = False

    # -- Executor interface ------------------------------------------------------------------------------------

    def start(self) -> None:
        workers.register(self.worker_id, KIND, self.slots)
        previous = workers.previous_of_kind(KIND, exclude=self.worker_id)
        if previous:
            failed = jobs_service.fail_running(
                "interrupted: the portal stopped while the job ran", "Interrupted", workers=previous
            )
            if failed:
                log.warning("failed %d job(s) interrupted by the previous stop: %s", len(failed), failed)
        self.settings.scratch_dir.mkdir(parents=True, exist_ok=True)
        if self.settings.job_filesystem_sandbox != "off":
            abi = landlock_abi()
            log.info("job file system sandbox: %s", f"Landlock ABI {abi}" if abi else "unavailable on this kernel")
        for index in range(self.slots):
            thread = threading.Thread(target=self._slot, name=f"slot-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        monitor = threading.Thread(target=self._monitor, name="executor-monitor", daemon=True)
        monitor.start()
        self._threads.append(monitor)
        self.started = True

    def submit(self, job_id: int) -> None:
        self._poke()

    def cancel(self, job_id: int) -> None:
        event = self._running.get(job_id)
        if event is not None:
            event.set()

    def shutdown(self) -> None:
        self._stopping.set()
        for event in list(self._running.values()):
            event.set()
        self._poke(all_slots=True)
        for thread in self._threads:
            thread.join(timeout=10)
        self.runner.stop()
        workers.mark_stopped(self.worker_id)
        self.started = False

    @property
    def running_jobs(self) -> list[int]:
        return list(self._running)

    # -- internals ---------------------------------------------------------------------------------------------

    def _poke(self, all_slots: bool = False) -> None:
        with self._wake:
            self._generation += 1
            if all_slots:
                self._wake.notify_all()
            else:
                self._wake.notify()

    def _slot(self) -> None:
        while not self._stopping.is_set():
            generation = self._generation
            try:
                job = jobs_service.claim_next(self.worker_id)
                while job is not None:
                    job = self._finish(job.id, self._run(job))
            except Exception:
                # A job this slot held and could not finish is failed by the monitor ("runner lost").
                log.exception("slot %s failed; it carries on", threading.current_thread().name)
                self._stopping.wait(1.0)
            with self._wake:
                if self._generation == generation and not self._stopping.is_set():
                    self._wake.wait(timeout=1.0)

    def _run(self, job: jobs_service.ClaimedJob) -> jobs_service.RunResult:
        cancel = threading.Event()
        self._running[job.id] = cancel
        if job.kind == jobs_service.KIND_IMPORT:
            return self._run_import(job, cancel)
        workdir: Path | None = None
        result: jobs_service.RunResult
        try:
            try:
                inputs, env, masker = confidential_parts(job)
            except PortalError as exc:
                return jobs_service.RunResult(
                    succeeded=False, error={"type": "SecretUnavailable", "message": exc.message}
                )
            workdir = Path(tempfile.mkdtemp(dir=self.settings.scratch_dir, prefix=f"job-{job.id}-"))
            try:
                bundle_dir = job.source_path or catalog_service.bundle_directory(job.bundle_sha256)
            except PortalError as exc:  # missing from the store, or failed its checksum: nothing runs
                log.error("job %s: bundle %s refused: %s", job.id, job.bundle_sha256, exc.message)
                error = {"type": "BundleUnavailable", "message": exc.message}
                return jobs_service.RunResult(succeeded=False, error=error)

            def on_event(event: dict[str, Any]) -> None:
                if event["type"] == "progress":
                    jobs_service.report_progress(job.id, event["percent"], masker.text(event["message"]))
                elif event["type"] == "logs":
                    lines = [{**line, "line": masker.text(line["line"])} for line in event["lines"]]
                    jobs_service.append_logs(job.id, job.created_by, lines)

            outcome = self.runner.run(
                RunRequest(
                    job_id=job.id,
                    bundle_dir=str(bundle_dir),
                    entrypoint=job.entrypoint,
                    inputs=inputs,
                    workdir=str(workdir),
                    limits=limits_for(self.settings, job.resources, job.timeout_seconds),
                    env=env,
                ),
                on_event,
                cancel,
            )
            result = jobs_service.RunResult(
                succeeded=outcome.succeeded,
                result=masker.value(outcome.result),
                error=masker.value(outcome.error),
                cancelled=outcome.cancelled,
            )
        except Exception as exc:
            log.exception("job %s: the runner failed", job.id)
            result = jobs_service.RunResult(succeeded=False, error={"type": "RunnerError", "message": str(exc)})
        finally:
            if workdir is not None:
                force_remove(workdir)
        if self._stopping.is_set() and result.cancelled:
            # Killed because the portal stops; `finish` still records CANCELLED if a user had asked for it.
            result = jobs_service.RunResult(
                succeeded=False,
                error={"type": "Interrupted", "message": "interrupted: the portal stopped while the job ran"},
            )
        return result

    def _run_import(self, job: jobs_service.ClaimedJob, cancel: threading.Event) -> jobs_service.RunResult:
        """A catalog import runs here, in the worker (it executes no item code: git, parsing, packing)."""
        actor = Principal(id=job.created_by, username=job.created_by_name, role=Role.publisher, via="job")
        try:
            result = git_importer.run_import_job(
                job.inputs,
                actor,
                lambda percent, message: jobs_service.report_progress(job.id, percent, message),
                cancel,
            )
            return jobs_service.RunResult(succeeded=True, result=result)
        except PortalError as exc:
            if exc.code == "cancelled":
                return jobs_service.RunResult(succeeded=False, cancelled=True)
            return jobs_service.RunResult(
                succeeded=False, error={"type": exc.code, "message": exc.message, "details": exc.details}
            )
        except Exception as exc:
            log.exception("job %s: the import failed", job.id)
            return jobs_service.RunResult(succeeded=False, error={"type": type(exc).__name__, "message": str(exc)})

    def _finish(self, job_id: int, result: jobs_service.RunResult) -> jobs_service.ClaimedJob | None:
        """Record the outcome and, unless stopping, claim this slot's next job in the same transaction."""
        try:
            for attempt in range(_FINISH_ATTEMPTS):
                try:
                    claim_for = None if self._stopping.is_set() else self.worker_id
                    return jobs_service.finish(job_id, result, claim_next_for=claim_for)
                except Exception:
                    log.exception("job %s: recording the outcome failed (attempt %d)", job_id, attempt + 1)
                    time.sleep(0.5 * (attempt + 1))
            return None
        finally:
            self._running.pop(job_id, None)

    def _monitor(self) -> None:
        """Heartbeat, reaper of lost workers, cancel flags set by other processes, and jobs queued elsewhere."""
        last_beat = last_expiry = 0.0
        while not self._stopping.wait(1.0):
            try:
                now = time.monotonic()
                if now - last_expiry >= self.settings.approval_check_seconds:
                    control.expire_approvals()
                    last_expiry = now
                if now - last_beat >= self.settings.worker_heartbeat_seconds:
                    workers.heartbeat(self.worker_id, len(self._running))
                    lost = [w for w in workers.lost(self.settings.worker_lost_after_seconds) if w != self.worker_id]
                    if lost:
                        jobs_service.fail_running("worker lost: its heartbeat stopped", "WorkerLost", workers=lost)
                        workers.mark_lost(lost)
                    # A job this worker holds as RUNNING but no slot runs (a slot failed to record its end).
                    jobs_service.fail_running(
                        "runner lost: the worker no longer runs this job",
                        "RunnerLost",
                        workers=[self.worker_id],
                        exclude=set(self._running),
                        started_before=utcnow() - timedelta(seconds=self.settings.worker_lost_after_seconds),
                    )
                    last_beat = now
                for job_id in jobs_service.cancel_requested_among(list(self._running)):
                    self.cancel(job_id)
                if len(self._running) < self.slots and jobs_service.queued_ids(1):
                    self._poke(all_slots=True)
            except Exception:
                log.exception("executor monitor failed")


def confidential_parts(job: jobs_service.ClaimedJob) -> tuple[dict[str, Any], dict[str, str], Masker]:
    """The inputs with the sealed sensitive ones restored, the secrets as environment, and a masker for both.

    Secrets come only if the job declares them and they are granted to its item (PortalError otherwise).
    """
    sensitive = crypto.unseal(job.sealed_inputs) if job.sealed_inputs else {}
    env = secrets_service.values_for(job.item_id, job.secrets) if job.secrets else {}
    return {**job.inputs, **sensitive}, env, Masker([*sensitive.values(), *env.values()])


def run_folder_once(settings: Settings, path: str, inputs: dict[str, Any], echo: Callable[[str], None]) -> bool:
    """`portal catalog run`: check an item folder, validate the inputs, run it once in the sandbox, print events."""
    folder = Path(path).resolve()
    item = check_folder(folder)
    if item.problems:
        raise ValidationFailed(
            f"{len(item.problems)} problem(s) in {folder}", details=[p.as_dict() for p in item.problems]
        )
    errors = input_errors(Draft7Validator(item.schema, format_checker=Draft7Validator.FORMAT_CHECKER), inputs)
    if errors:
        raise ValidationFailed("the inputs do not match the schema", details=errors)
    limits = limits_for(
        settings, item.manifest.get("resources") or {}, item.manifest.get("timeout") or settings.job_timeout_seconds
    )

    def on_event(event: dict[str, Any]) -> None:
        if event["type"] == "progress":
            echo(f"[{event['percent']:3d}%] {event['message']}")
        elif event["type"] == "logs":
            for line in event["lines"]:
                echo(f"{line['stream']:>6} | {line['line']}")

    runner = Runner(
        log_max_lines=settings.job_log_max_lines,
        progress_per_second=settings.job_progress_per_second,
        filesystem_sandbox=settings.job_filesystem_sandbox,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="portal-run-") as workdir:
            outcome = runner.run(
                RunRequest(
                    job_id=0,
                    bundle_dir=str(folder),
                    entrypoint=item.manifest["entrypoint"],
                    inputs=inputs,
                    workdir=workdir,
                    limits=limits,
                ),
                on_event,
            )
    finally:
        runner.stop()
    if outcome.succeeded:
        echo("SUCCEEDED")
        echo(json.dumps(outcome.result, indent=2, default=str))
        return True
    error = outcome.error or {}
    echo(f"FAILED {error.get('type')}: {error.get('message')}")
    if error.get("traceback"):
        echo(str(error["traceback"]).rstrip())
    return False
