"""Launch-time validation: an item's `validate(inputs)` run in the job sandbox before its job is created.

A refusal becomes a 422 naming the field, and no job. Only items whose entrypoint module defines `validate` pay
for it (read from the source once per bundle, never by importing it). It runs with the job's containment, no
network, no secrets, small limits (`VALIDATE_MEMORY_MB`, `PORTAL_JOB_VALIDATE_SECONDS`) and at most
`PORTAL_JOB_VALIDATE_CONCURRENCY` at once per process; a launch never waits for a free slot. When it cannot
conclude (busy, too slow, `validate` itself broken, the sandbox not ready), the job is created and validates in
its run, as it always did; a refusal there ends the job as REJECTED.

An API node of the distributed mode runs no jobs, and its deployment may not give it the workers' sandbox: it
validates at launch only when every protection is there (otherwise it leaves validation to the run).
"""

from __future__ import annotations

import ast
import logging
import math
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from portal.catalog import storage as catalog_storage
from portal.errors import PortalError
from portal.execution.host import new_runner
from portal.execution.policy import IsolationUnavailable
from portal.execution.runner import Limits, Runner, RunRequest
from portal.jobs.schemas import Precheck, Verdict, is_rejection
from portal.settings import Settings

log = logging.getLogger(__name__)

VALIDATE_MEMORY_MB = 256  # a validate checks inputs; it gets less than a job, whatever the job may use
_VALIDATE_FILE_SIZE_MB = 16
_KNOWN_MAX = 4096
_SOURCE_MAX_BYTES = 1 << 20
_MESSAGE_MAX = 2000
_FIELD_MAX = 200
# The id its confinement is made under: validations have no job (scratch folders and uids are per run anyway).
_NO_JOB = 0


def entry_module(bundle_dir: Path, entrypoint: str) -> Path | None:
    """The source file an entrypoint loads (`task.py`, `task.py:fn`, `task:run`, `pkg.module:fn`), if it is a
    regular file inside the bundle (a development folder's link pointing elsewhere is not read)."""
    target = entrypoint.partition(":")[0]
    if target.endswith(".py"):
        candidates = [bundle_dir / target]
    else:
        base = bundle_dir.joinpath(*target.split("."))
        candidates = [base.with_suffix(".py"), base / "__init__.py"]
    inside = bundle_dir.resolve()
    for path in candidates:
        if path.is_file() and path.resolve().is_relative_to(inside):
            return path
    return None


def _binds_validate(body: list[ast.stmt]) -> bool:
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "validate":
            return True
        if isinstance(node, ast.Import | ast.ImportFrom) and any(
            (alias.asname or alias.name) == "validate" for alias in node.names
        ):
            return True
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == "validate" for t in targets):
            return True
        # `try: from x import validate / except ImportError: def validate(...)`, `if ...: def validate(...)`
        nested: list[list[ast.stmt]] = []
        if isinstance(node, ast.If):
            nested = [node.body, node.orelse]
        elif isinstance(node, ast.Try):
            nested = [node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)]
        if any(_binds_validate(block) for block in nested):
            return True
    return False


def defines_validate(source: str) -> bool:
    """Whether a module's source binds `validate` at its top level (a def, an import or an assignment, also
    inside a top-level `if` or `try`)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False  # it cannot load: the job fails with the import error, nothing to validate first
    return _binds_validate(tree.body)


class Prevalidation:
    """Runs `validate` for submissions, through the executor's runner or, on an API node, one of its own."""

    def __init__(self, settings: Settings, runner: Runner | None = None) -> None:
        self.settings = settings
        self._runner = runner
        self._own_runner = runner is None
        self._ready = threading.Event()
        if runner is not None:
            self._ready.set()
        self._starting = threading.Event()  # set while an API node's own sandbox starts
        self._stopped = False
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max(settings.job_validate_concurrency, 1))
        self._known: OrderedDict[tuple[str, str], bool] = OrderedDict()  # (bundle sha256, entrypoint) -> has it

    def start(self) -> None:
        """An API node's own sandbox, started off the request path: kept only when every protection is there."""
        if not self._own_runner or self.settings.job_validate_concurrency <= 0:
            return
        self._starting.set()
        threading.Thread(target=self._start_runner, name="prevalidation-start", daemon=True).start()

    def _start_runner(self) -> None:
        try:
            runner = new_runner(self.settings)
            try:
                missing = [p.name for p in runner.start() if not p.on]
            except (IsolationUnavailable, OSError, RuntimeError) as exc:
                missing = [str(exc)]
            with self._lock:
                if missing or self._stopped:
                    runner.stop()
                    if missing:
                        log.warning("launch-time validation is off on this node (its sandbox lacks %s)", missing)
                    return
                self._runner = runner
                self._ready.set()
        finally:
            self._starting.clear()

    def stop(self) -> None:
        """Stop the runner it started (an executor's own is the executor's to stop); later checks are unchecked."""
        with self._lock:
            self._stopped = True
            self._ready.clear()
            if self._own_runner and self._runner is not None:
                self._runner.stop()
            self._runner = None

    def check(self, check: Precheck) -> Verdict:
        """Run the item's `validate` on the inputs in the sandbox, when it has one (see Verdict)."""
        if self.settings.job_validate_concurrency <= 0:
            return Verdict("unchecked", "launch-time validation is off")
        if not check.source_path and self._known.get((check.bundle_sha256, check.entrypoint)) is False:
            return Verdict("accepted")  # the common case, a stored bundle without `validate`: no file is read
        try:
            bundle_dir = Path(check.source_path or catalog_storage.bundle_directory(check.bundle_sha256))
        except PortalError as exc:
            return Verdict("unchecked", exc.message)
        if not self._has_validate(check, bundle_dir):
            return Verdict("accepted")
        if self._starting.is_set():  # the first launches after start-up wait for the sandbox, not later ones
            self._ready.wait(timeout=self.settings.job_validate_seconds)
        runner = self._runner
        if not self._ready.is_set() or runner is None:
            return Verdict("unchecked", "launch-time validation is not available on this node")
        if not self._slots.acquire(blocking=False):  # a launch never waits for another's validation
            return Verdict("unchecked", "launch-time validation is busy")
        try:
            outcome = runner.run(
                RunRequest(
                    job_id=_NO_JOB,
                    bundle_dir=str(bundle_dir),
                    entrypoint=check.entrypoint,
                    inputs=check.inputs,
                    limits=self._limits(check.resources),
                    mode="validate",
                ),
                _ignore,
            )
        except Exception as exc:
            log.warning("launch-time validation of %s could not run: %s", check.item_id, exc)
            return Verdict("unchecked", str(exc))
        finally:
            self._slots.release()
        if outcome.succeeded:
            return Verdict("accepted")
        error = outcome.error or {}
        if is_rejection(error):
            message = str(error.get("message") or "the inputs were rejected")[:_MESSAGE_MAX]
            field = error.get("field")
            return Verdict("rejected", message, str(field)[:_FIELD_MAX] if field is not None else None)
        return Verdict("unchecked", f"{error.get('type')}: {error.get('message')}"[:_MESSAGE_MAX])

    def _limits(self, resources: dict[str, Any]) -> Limits:
        seconds = self.settings.job_validate_seconds
        memory = min(int(resources.get("memory_mb") or self.settings.job_memory_mb), self.settings.job_memory_mb)
        return Limits(
            memory_mb=min(memory, VALIDATE_MEMORY_MB),
            cpu_seconds=max(1, math.ceil(seconds)),
            file_size_mb=min(self.settings.job_file_size_mb, _VALIDATE_FILE_SIZE_MB),
            open_files=self.settings.job_open_files,
            timeout_seconds=seconds,
        )

    def _has_validate(self, check: Precheck, bundle_dir: Path) -> bool:
        key = (check.bundle_sha256, check.entrypoint)
        cached = None if check.source_path else self._known.get(key)  # a development folder may change
        if cached is not None:
            return cached
        path = entry_module(bundle_dir, check.entrypoint)
        try:
            found = path is None or defines_validate(_read_source(path))
        except OSError:
            found = True  # unreadable here: let the sandbox say
        if not check.source_path:
            self._known[key] = found
            while len(self._known) > _KNOWN_MAX:
                self._known.popitem(last=False)
        return found


def _read_source(path: Path) -> str:
    """At most `_SOURCE_MAX_BYTES` of a source file, never through a link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as source:
        return source.read(_SOURCE_MAX_BYTES).decode("utf-8", errors="replace")


def _ignore(_event: dict[str, Any]) -> None:
    """Progress and log lines of a validation are not kept: there is no job to keep them on."""
