"""Launch-time validation: an item's `validate(inputs)` run in the job sandbox before its job is created.

A refusal becomes a 422 naming the field, and no job. Only items whose entrypoint module defines `validate` pay
for it (read from the source once per bundle, never by importing it). It runs with the job's containment and
limits, no network, no secrets and a short time limit; at most `PORTAL_JOB_VALIDATE_CONCURRENCY` at once per
process. When it cannot conclude (busy, too slow, `validate` itself broken), the job is created and validates
in its run, as it always did; a refusal there ends the job as REJECTED.
"""

from __future__ import annotations

import ast
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from portal.catalog import storage as catalog_storage
from portal.errors import PortalError
from portal.execution.host import limits_for, new_runner
from portal.execution.runner import Runner, RunRequest
from portal.jobs.schemas import REJECTED_ERROR, Precheck, Verdict
from portal.settings import Settings

log = logging.getLogger(__name__)

_KNOWN_MAX = 4096
_WAIT_FOR_SLOT_SECONDS = 1.0
# The id its confinement is made under: validations have no job (scratch folders and uids are per run anyway).
_NO_JOB = 0


def entry_module(bundle_dir: Path, entrypoint: str) -> Path | None:
    """The source file an entrypoint loads (`task.py`, `task.py:fn`, `task:run`, `pkg.module:fn`), if found."""
    target = entrypoint.partition(":")[0]
    if target.endswith(".py"):
        candidates = [bundle_dir / target]
    else:
        base = bundle_dir.joinpath(*target.split("."))
        candidates = [base.with_suffix(".py"), base / "__init__.py"]
    return next((path for path in candidates if path.is_file()), None)


def defines_validate(source: str) -> bool:
    """Whether a module's source binds `validate` at its top level (a def, an import or an assignment)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False  # it cannot load: the job fails with the import error, nothing to validate first
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "validate":
            return True
        if isinstance(node, ast.Import | ast.ImportFrom) and any(
            (alias.asname or alias.name) == "validate" for alias in node.names
        ):
            return True
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == "validate" for t in targets):
            return True
    return False


class Prevalidation:
    """Runs `validate` for submissions, through a runner of its own or the executor's (thread-safe)."""

    def __init__(self, settings: Settings, runner: Runner | None = None) -> None:
        self.settings = settings
        self._runner = runner
        self._own_runner = runner is None
        self._runner_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max(settings.job_validate_concurrency, 1))
        self._known: OrderedDict[tuple[str, str], bool] = OrderedDict()  # (bundle sha256, entrypoint) -> has it

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
        if not self._slots.acquire(timeout=_WAIT_FOR_SLOT_SECONDS):
            return Verdict("unchecked", "launch-time validation is busy")
        try:
            outcome = self._runner_now().run(
                RunRequest(
                    job_id=_NO_JOB,
                    bundle_dir=str(bundle_dir),
                    entrypoint=check.entrypoint,
                    inputs=check.inputs,
                    limits=limits_for(self.settings, check.resources, self.settings.job_validate_seconds),
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
        if error.get("type") == REJECTED_ERROR:
            return Verdict("rejected", str(error.get("message") or "the inputs were rejected"), error.get("field"))
        return Verdict("unchecked", f"{error.get('type')}: {error.get('message')}")

    def stop(self) -> None:
        """Stop the runner it started (an executor's own is the executor's to stop)."""
        with self._runner_lock:
            if self._own_runner and self._runner is not None:
                self._runner.stop()
                self._runner = None

    def _runner_now(self) -> Runner:
        with self._runner_lock:
            if self._runner is None:
                # A process that sends jobs elsewhere (distributed) starts a sandbox of its own on first use.
                runner = new_runner(self.settings)
                runner.start()
                self._runner = runner
            return self._runner

    def _has_validate(self, check: Precheck, bundle_dir: Path) -> bool:
        key = (check.bundle_sha256, check.entrypoint)
        cached = None if check.source_path else self._known.get(key)  # a development folder may change
        if cached is not None:
            return cached
        path = entry_module(bundle_dir, check.entrypoint)
        try:
            found = path is None or defines_validate(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            found = True  # unreadable here: let the sandbox say
        if not check.source_path:
            self._known[key] = found
            while len(self._known) > _KNOWN_MAX:
                self._known.popitem(last=False)
        return found


def _ignore(_event: dict[str, Any]) -> None:
    """Progress and log lines of a validation are not kept: there is no job to keep them on."""
