"""The kinds of job besides running a catalog item's task, and what carries each out.

A job row names its kind; the executor's host runs a task for the default kind and looks every other kind up
here. The domain that owns a kind provides its runner, and the composition root (`bootstrap.connect_domains`)
registers it in every process that runs jobs, so the executor never imports the domains whose work it carries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from portal.jobs.schemas import ClaimedJob

TASK = "catalog_execution"
CATALOG_IMPORT = "catalog_import"
SOURCE_REFRESH = "source_refresh"  # a catalog source's refresh: its item_id is the source's id
# Runs of an item's task that are not real runs: its test cases, and a dry run from the admin item page. They
# run in the sandbox like a task and count in no item's runs.
TEST = "catalog_test"
DRY_RUN = "catalog_dry_run"
SANDBOXED = frozenset({TASK, TEST, DRY_RUN})
LISTED = (TASK, CATALOG_IMPORT, SOURCE_REFRESH, TEST, DRY_RUN)  # what `GET /api/jobs?kind=` filters on

StepReporter = Callable[[int, str], None]
"""Reports a step of the job: its percent done and what it does now (shown as a `step` event)."""

KindRunner = Callable[[ClaimedJob, StepReporter, threading.Event], Any]
"""Carries out a claimed job of its kind and returns its result; the event is set when the job is cancelled.
A `PortalError` fails the job with its code (`cancelled`: the job was cancelled), any other exception fails it too."""

_runners: dict[str, KindRunner] = {}


def register(kind: str, runner: KindRunner) -> None:
    """Say what carries out jobs of `kind` (registering a kind again replaces its runner)."""
    if kind in SANDBOXED:
        raise ValueError(f"{kind} jobs run in the executor's sandbox")
    _runners[kind] = runner


def runner_for(kind: str) -> KindRunner | None:
    """The runner of a kind other than a task; None for a task, or a kind this process does not know."""
    return _runners.get(kind)


def forget_all() -> None:
    """Unregister every kind but the task (a reset for tests)."""
    _runners.clear()
