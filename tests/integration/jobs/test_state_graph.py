"""The one writer of job states refuses every edge the state graph does not have, before it writes anything."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import product
from pathlib import Path
from typing import Any

import pytest

from portal.catalog import service as catalog_service
from portal.db import session as db
from portal.events import bus
from portal.identity.principal import SYSTEM
from portal.jobs import queries as jobs_queries
from portal.jobs import runs, writer
from portal.jobs import service as jobs_service
from portal.jobs.states import TRANSITIONS, IllegalTransition, JobState
from tests.conftest import migrated_database
from tests.helpers import item_files, write

ILLEGAL = [(a, b) for a, b in product(JobState, JobState) if b not in TRANSITIONS[a]]


@pytest.fixture(params=["sqlite", "postgresql"])
def job_id(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    with migrated_database(request, tmp_path / "data", catalog_load_examples=False):
        write(tmp_path / "items" / "graph", item_files("graph", "1.0.0"))
        catalog_service.import_local(SYSTEM, str(tmp_path / "items"), enforce_roots=False)
        yield jobs_service.create_job(SYSTEM, "graph", "1.0.0", {}).id


def test_every_edge_outside_the_graph_is_refused_and_changes_nothing(job_id: int) -> None:
    assert len(ILLEGAL) == 49 - 9  # seven states, nine edges
    before = jobs_queries.get_job(SYSTEM, job_id)
    for source, target in ILLEGAL:
        with pytest.raises(IllegalTransition, match=f"{source.value} -> {target.value}"), db.write() as s:
            writer.transition(s, job_id, source, target, {"message": "should not happen"})
    after = jobs_queries.get_job(SYSTEM, job_id)
    assert after.state == before.state == JobState.QUEUED and after.rev == before.rev
    assert after.events_total == before.events_total
    # A job starts only through a claim (which records its worker); the rest of the graph goes through the
    # same writer: QUEUED -> RUNNING (claimed) -> SUCCEEDED.
    with pytest.raises(IllegalTransition, match="claim"), db.write() as s:
        writer.transition(s, job_id, JobState.QUEUED, JobState.RUNNING, {})
    claimed = runs.claim(job_id, "graph-worker")
    assert claimed is not None and claimed.worker == "graph-worker"
    with db.write() as s:
        assert writer.transition(s, job_id, JobState.RUNNING, JobState.SUCCEEDED, {}) is not None
    assert jobs_queries.get_job(SYSTEM, job_id).state == JobState.SUCCEEDED


def test_a_job_changed_twice_in_one_unit_of_work_is_announced_once_as_it_ended(job_id: int) -> None:
    """A requeue that meets a cancel in the same transaction must not show browsers (or the executor) a QUEUED
    job that is already CANCELLED."""
    heard: list[dict[str, Any]] = []
    unsubscribe = bus.current().subscribe(lambda m: heard.append(m) if m.get("type") == "job.updated" else None)
    try:
        with db.write() as s:
            writer.touch(s, job_id, "about to go")
            writer.transition(s, job_id, JobState.QUEUED, JobState.CANCELLED, {"message": "cancelled"})
            assert heard == []  # nothing before the commit
    finally:
        unsubscribe()
    assert [(m["job"]["id"], m["job"]["state"]) for m in heard] == [(job_id, "CANCELLED")]
