"""What every executor shares: running a claimed job through the sandboxed runner, recording its end, and a worker
process's duties (registration, heartbeat, reaping lost workers, honouring cancel flags set elsewhere)."""

from __future__ import annotations

import logging
import resource
import threading
import time
from dataclasses import asdict, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DataError

from portal.catalog import network as catalog_network
from portal.catalog import storage as catalog_storage
from portal.db.base import utcnow
from portal.duties import DutyFunction
from portal.errors import PortalError
from portal.execution import workers
from portal.execution.policy import Policy, Protection, service_ports
from portal.execution.runner import Limits, Runner, RunRequest
from portal.jobs import kinds, runs
from portal.jobs import schemas as job_contract
from portal.secrets import crypto
from portal.secrets import service as secrets_service
from portal.secrets.masking import Masker
from portal.settings import Settings

log = logging.getLogger(__name__)

_FINISH_ATTEMPTS = 5
_FINISH_PAUSE_MAX = 5.0
INTERRUPTED = "interrupted: the portal stopped while the job ran"


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


def isolation_policy(settings: Settings) -> Policy:
    """The settings' isolation policy, with the ports of the portal's own services blocked for every job."""
    first, last = settings.job_uid_range
    urls = [settings.resolved_database_url, settings.redis_url, settings.resolved_broker_url]
    extra = [*settings.job_blocked_ports, *([settings.worker_metrics_port] if settings.worker_metrics_port else [])]
    return Policy(
        mode=settings.job_isolation,
        uid_first=first,
        uid_last=last,
        max_processes=settings.job_max_processes,
        scratch_mb=settings.job_scratch_mb,
        blocked_ports=service_ports(urls, extra),
    )


def new_runner(settings: Settings) -> Runner:
    """A runner with the settings' limits and isolation, its scratch space in the data directory."""
    return Runner(
        scratch_root=settings.scratch_dir,
        policy=isolation_policy(settings),
        log_max_lines=settings.job_log_max_lines,
        log_max_line_chars=settings.job_log_max_line_chars,
        progress_per_second=settings.job_progress_per_second,
        result_max_bytes=settings.job_result_max_bytes,
    )


def confidential_parts(job: job_contract.ClaimedJob) -> tuple[dict[str, Any], dict[str, str], Masker]:
    """The inputs with the sealed sensitive ones restored, the secrets as environment, and a masker for both.

    Secrets come only if the job declares them and a grant covers its version (PortalError otherwise).
    """
    sensitive = crypto.unseal(job.sealed_inputs) if job.sealed_inputs else {}
    env = (
        secrets_service.values_for(
            job.item_id, job.item_version, job.bundle_sha256, job.secrets, development=job.source_path is not None
        )
        if job.secrets
        else {}
    )
    return {**job.inputs, **sensitive}, env, Masker([*sensitive.values(), *env.values()])


# Descriptors a running job holds in this process and in its zygote (its pipes, its pidfd, its cgroup files).
FILES_PER_JOB = 12


def raise_open_files_limit(slots: int) -> None:
    """Lift this process's soft limit of open files toward its hard limit when its slots could exhaust it (a
    shell's default soft limit is often 1,024: about 80 running jobs). The zygote started next inherits it; jobs
    get their own limit (PORTAL_JOB_OPEN_FILES)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1024 + slots * FILES_PER_JOB
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        if raised < wanted:
            log.warning("open files limited to %d (hard limit): too few for %d running jobs", raised, slots)


class JobHost:
    """One worker process's jobs: a registered worker id, the sandboxed runner, and the jobs it runs right now."""

    def __init__(self, settings: Settings, kind: str, slots: int) -> None:
        self.settings = settings
        self.kind = kind
        self.slots = slots
        self.worker_id = workers.new_worker_id(kind)
        self.runner = new_runner(settings)
        self.protections: list[Protection] = []
        self.stopping = threading.Event()
        # Set when the process was asked to stop but lets its running jobs finish (Celery's warm shutdown):
        # recording an outcome is then retried a few times only, within the grace period.
        self.draining = threading.Event()
        # The runs in progress: job id -> (its run, the event that kills its child).
        self._running: dict[int, tuple[job_contract.RunKey, threading.Event]] = {}
        self._heartbeat = Heartbeat(settings, self.worker_id)

    @property
    def running_jobs(self) -> list[int]:
        return list(self._running)

    def register(self) -> None:
        """Start the sandbox (IsolationUnavailable under PORTAL_JOB_ISOLATION=required when a protection is
        missing: the process must not run jobs) and join the registry of workers."""
        raise_open_files_limit(self.slots)
        self.protections = self.runner.start()
        for protection in self.protections:
            log.info(
                "job isolation: %-17s %s: %s", protection.name, "on" if protection.on else "OFF", protection.detail
            )
        workers.register(self.worker_id, self.kind, self.slots, [asdict(p) for p in self.protections])

    def cancel(self, job_id: int) -> None:
        current = self._running.get(job_id)
        event = current[1] if current else None
        if event is not None:
            event.set()

    def stop(self) -> None:
        """Kill what still runs (its jobs are recorded as interrupted) and leave the registry."""
        self.stopping.set()
        for _run, event in list(self._running.values()):
            event.set()

    def close(self) -> None:
        self.runner.stop()
        workers.mark_stopped(self.worker_id)

    def run(self, job: job_contract.ClaimedJob) -> job_contract.RunResult:
        """Run a claimed job to its end (its child killed when `cancel` is called) and say how it ended."""
        cancel = threading.Event()
        stale = self._running.get(job.id)
        if stale is not None:
            stale[1].set()  # the same job claimed again (it was reaped from us meanwhile): the old run stops
        self._running[job.id] = (job.run, cancel)
        if job.kind not in kinds.SANDBOXED:
            runner = kinds.runner_for(job.kind)
            if runner is None:
                message = f"this worker cannot run jobs of kind {job.kind}"
                return job_contract.RunResult(succeeded=False, error={"type": "UnknownJobKind", "message": message})
            return self._run_kind(job, runner, cancel)
        result: job_contract.RunResult
        try:
            try:
                inputs, env, masker = confidential_parts(job)
            except PortalError as exc:
                return job_contract.RunResult(
                    succeeded=False, error={"type": "SecretUnavailable", "message": exc.message}
                )
            if job.source_path and not Path(job.source_path).is_dir():
                # A development item runs from its folder: a worker on another machine may not have it.
                message = f"this worker cannot read the development folder {job.source_path}"
                return job_contract.RunResult(
                    succeeded=False, error={"type": "DevelopmentFolderUnavailable", "message": message}
                )
            need = job.resources.get("network")
            if not catalog_network.allowed(job.item_id, need):
                message = f"{job.item_id} needs network access, which an administrator has not allowed (or withdrew)"
                return job_contract.RunResult(succeeded=False, error={"type": "NetworkNotAllowed", "message": message})
            try:
                bundle_dir = job.source_path or catalog_storage.bundle_directory(job.bundle_sha256)
            except PortalError as exc:  # missing from the store, or failed its checksum: nothing runs
                log.error("job %s: bundle %s refused: %s", job.id, job.bundle_sha256, exc.message)
                error = {"type": "BundleUnavailable", "message": exc.message}
                return job_contract.RunResult(succeeded=False, error=error)

            def on_event(event: dict[str, Any]) -> None:
                if event["type"] == "progress":
                    runs.report_progress(job.id, job.run, event["percent"], masker.text(event["message"]))
                elif event["type"] == "logs":
                    lines = [{**line, "line": masker.text(line["line"])} for line in event["lines"]]
                    runs.append_logs(job.id, job.run, job.created_by, lines)

            outcome = self.runner.run(
                RunRequest(
                    job_id=job.id,
                    bundle_dir=str(bundle_dir),
                    entrypoint=job.entrypoint,
                    inputs=inputs,
                    limits=limits_for(self.settings, job.resources, job.timeout_seconds),
                    env=env,
                    network=need,
                ),
                on_event,
                cancel,
            )
            result = replace(outcome, result=masker.value(outcome.result), error=masker.value(outcome.error))
        except Exception as exc:
            log.exception("job %s: the runner failed", job.id)
            result = job_contract.RunResult(succeeded=False, error={"type": "RunnerError", "message": str(exc)})
        if self.stopping.is_set() and result.cancelled:
            # Killed because the process stops; `finish` still records CANCELLED if a user had asked for it.
            result = job_contract.RunResult(succeeded=False, error={"type": "Interrupted", "message": INTERRUPTED})
        return result

    @staticmethod
    def _run_kind(
        job: job_contract.ClaimedJob, runner: kinds.KindRunner, cancel: threading.Event
    ) -> job_contract.RunResult:
        """A job of another kind (a catalog import): it runs in the worker too, and runs no item code."""

        def step(percent: int, message: str) -> None:
            runs.report_progress(job.id, job.run, percent, message, step=True)

        try:
            return job_contract.RunResult(succeeded=True, result=runner(job, step, cancel))
        except PortalError as exc:
            if exc.code == "cancelled":
                return job_contract.RunResult(succeeded=False, cancelled=True)
            return job_contract.RunResult(
                succeeded=False, error={"type": exc.code, "message": exc.message, "details": exc.details}
            )
        except Exception as exc:
            log.exception("job %s: the %s job failed", job.id, job.kind)
            return job_contract.RunResult(succeeded=False, error={"type": type(exc).__name__, "message": str(exc)})

    def finish(
        self, job: job_contract.ClaimedJob, result: job_contract.RunResult, claim_next: bool = False
    ) -> job_contract.ClaimedJob | None:
        """Record the outcome and, with `claim_next` and unless stopping, claim this worker's next job in the same
        transaction. A database that is away (a failover) is waited for: the outcome is retried with a growing
        pause for as long as the process runs, and only given up after a few tries once it stops."""
        try:
            attempt = 0
            while True:
                attempt += 1
                try:
                    more = claim_next and not self.stopping.is_set()
                    return runs.finish(job.id, job.run, result, claim_next=more)
                except DataError as exc:
                    # The outcome itself is what the database refuses (whatever the runner let through): trying
                    # again would fail forever and hold the slot. Record why instead.
                    log.error("job %s: its outcome cannot be stored: %s", job.id, exc.orig)
                    result = job_contract.RunResult(
                        succeeded=False,
                        error={
                            "type": "OutcomeNotStorable",
                            "message": "the job's result or error could not be stored",
                        },
                    )
                except Exception:
                    log.exception("job %s: recording the outcome failed (attempt %d)", job.id, attempt)
                    winding_down = self.stopping.is_set() or self.draining.is_set()
                    if winding_down and attempt >= _FINISH_ATTEMPTS:
                        return None
                    time.sleep(min(0.5 * attempt, _FINISH_PAUSE_MAX))
        finally:
            current = self._running.get(job.id)
            if current is not None and current[0] == job.run:
                del self._running[job.id]

    def duties(self) -> list[tuple[str, float, DutyFunction]]:
        """The worker's heartbeat (with reaping), and stopping the jobs it should no longer run, every second."""
        return [
            ("heartbeat", self.settings.worker_heartbeat_seconds, self.beat),
            ("stop-flags", 1.0, self.stop_what_should_stop),
        ]

    def beat(self) -> None:
        """Beat (and reap lost workers), and fail a job this worker holds as RUNNING but no longer runs (its end
        could not be recorded)."""
        self._heartbeat.beat(len(self._running))
        runs.fail_running(
            "runner lost: the worker no longer runs this job",
            "RunnerLost",
            workers=[self.worker_id],
            exclude=set(self._running),
            started_before=utcnow() - timedelta(seconds=self.settings.worker_lost_after_seconds),
        )

    def stop_what_should_stop(self) -> None:
        """Kill the runs of jobs cancelled elsewhere, or taken away from this worker."""
        held = {job_id: run for job_id, (run, _event) in list(self._running.items())}
        for job_id in runs.to_stop_among(held):
            self.cancel(job_id)


class Heartbeat:
    """A process's beat in the registry of workers, and the reaping of the workers that stopped beating.

    After an outage of its own (the database was away, so this beat comes late), every other worker looks lost
    too: they get one heartbeat period to show up before anyone is reaped.
    """

    def __init__(self, settings: Settings, worker_id: str) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self._last = 0.0

    def beat(self, running: int) -> None:
        was_late = time.monotonic() - self._last > self.settings.worker_lost_after_seconds
        workers.heartbeat(self.worker_id, running)
        self._last = time.monotonic()
        if not was_late:
            reap_lost_workers(self.settings, exclude=self.worker_id)


def reap_lost_workers(settings: Settings, exclude: str | None = None) -> list[int]:
    """Fail (or re-queue, for idempotent items) the RUNNING jobs of workers whose heartbeat stopped."""
    lost = [w for w in workers.lost(settings.worker_lost_after_seconds) if w != exclude]
    if not lost:
        return []
    reaped = runs.fail_running(
        "worker lost: its heartbeat stopped", "WorkerLost", workers=lost, requeue_idempotent=True
    )
    workers.mark_lost(lost)
    if reaped:
        log.warning("reaped %d job(s) of lost worker(s) %s: %s", len(reaped), lost, reaped)
    return reaped
