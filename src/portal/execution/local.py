"""The embedded executor: N slot threads claim jobs from the jobs table and run them through the sandboxed runner."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

from portal.catalog.manifest import network_need
from portal.catalog.validate import check_folder, input_errors
from portal.duties import DutyFunction
from portal.errors import ValidationFailed
from portal.execution import workers
from portal.execution.host import INTERRUPTED, JobHost, limits_for, new_runner
from portal.execution.prevalidation import Prevalidation
from portal.execution.runner import RunRequest
from portal.jobs import runs
from portal.jobs.schemas import Precheck, Verdict, is_rejection
from portal.settings import Settings

log = logging.getLogger(__name__)

KIND = "embedded"


# One idle slot at a time watches the table every second (for jobs queued elsewhere, or left by a claim that
# failed), as the duty does; the others sleep until a submit, the duty or a slot that claimed a job wakes them,
# this being only the safety net. Every idle slot polling each second was a thousand queries a second at a
# thousand slots.
WATCH_SECONDS = 1.0
IDLE_SLOT_WAIT_SECONDS = 30.0


class LocalExecutor:
    """Runs queued jobs in this process's slot threads; wakes one at once on submit, and as many as there are
    jobs queued by other processes (the CLI) once a second."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.slots = settings.worker_slots
        self.host = JobHost(settings, KIND, self.slots)
        self.worker_id = self.host.worker_id
        self._wake = threading.Condition()
        self._generation = 0
        self._watching = False  # whether an idle slot is the one that looks at the table every second
        self._threads: list[threading.Thread] = []
        self.prevalidation = Prevalidation(settings, self.host.runner)
        self.started = False

    # -- Executor interface ------------------------------------------------------------------------------------

    def start(self) -> None:
        self.host.register()
        # One embedded portal serves a data directory: a worker of the same kind that never said it stopped
        # belonged to a portal that died, and its running jobs died with it.
        previous = workers.previous_of_kind(KIND, exclude=self.worker_id)
        if previous:
            failed = runs.fail_running(INTERRUPTED, "Interrupted", workers=previous)
            if failed:
                log.warning("failed %d job(s) interrupted by the previous stop: %s", len(failed), failed)
        for index in range(self.slots):
            thread = threading.Thread(target=self._slot, name=f"slot-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.started = True

    def submit(self, job_id: int, queue: str = "default", priority: int = 0) -> None:
        self._poke()

    def cancel(self, job_id: int, running: bool = True) -> None:
        self.host.cancel(job_id)

    def shutdown(self) -> None:
        self.host.stop()
        self._poke(all_slots=True)
        for thread in self._threads:
            thread.join(timeout=10)
        self.host.close()
        self.started = False

    def checks(self) -> dict[str, str]:
        return {}

    def queue_depths(self, queues: list[str]) -> dict[str, int | None]:
        return {}

    def isolation(self) -> list[dict[str, Any]]:
        return [asdict(p) for p in self.host.protections]

    def duties(self) -> list[tuple[str, float, DutyFunction]]:
        """The host's duties, and waking the slots for jobs queued by other processes (the CLI)."""
        return [*self.host.duties(), ("queued-elsewhere", 1.0, self._wake_for_queued)]

    def precheck(self, check: Precheck) -> Verdict:
        return self.prevalidation.check(check)

    @property
    def running_jobs(self) -> list[int]:
        return self.host.running_jobs

    # -- internals ---------------------------------------------------------------------------------------------

    def _poke(self, all_slots: bool = False, slots: int = 1) -> None:
        with self._wake:
            self._generation += 1
            if all_slots:
                self._wake.notify_all()
            else:
                self._wake.notify(slots)

    def _slot(self) -> None:
        stopping = self.host.stopping
        while not stopping.is_set():
            generation = self._generation
            try:
                job = runs.claim_next(self.worker_id)
                if job is not None:
                    self._poke()  # there may be more: the next idle slot looks too
                while job is not None:
                    job = self.host.finish(job, self.host.run(job), claim_next=True)
            except Exception:
                # A job this slot held and could not finish is failed by the monitor ("runner lost").
                log.exception("slot %s failed; it carries on", threading.current_thread().name)
                stopping.wait(1.0)
            with self._wake:
                if self._generation == generation and not stopping.is_set():
                    watch = not self._watching
                    self._watching = True
                    try:
                        self._wake.wait(timeout=WATCH_SECONDS if watch else IDLE_SLOT_WAIT_SECONDS)
                    finally:
                        if watch:
                            self._watching = False

    def _wake_for_queued(self) -> None:
        free = self.slots - len(self.host.running_jobs)
        if free > 0:
            queued = len(runs.queued_ids(free))
            if queued:
                self._poke(slots=queued)


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

    runner = new_runner(settings)
    try:
        runner.start()
        outcome = runner.run(
            RunRequest(
                job_id=0,
                bundle_dir=str(folder),
                entrypoint=item.manifest["entrypoint"],
                inputs=inputs,
                limits=limits,
                network=network_need(item.manifest),
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
    if is_rejection(error):  # the item's validate refused the inputs: say which, as the form would
        echo(f"REJECTED {error.get('field') or 'inputs'}: {error.get('message')}")
        return False
    echo(f"FAILED {error.get('type')}: {error.get('message')}")
    if error.get("traceback"):
        echo(str(error["traceback"]).rstrip())
    return False
