"""The reaper and the worker guard, in process on SQLite and PostgreSQL: a job taken from a lost worker can no
longer be changed by that worker's run nor by a second reaper; a cancelled job is never put back in the queue;
a worker reaped during an outage of its own comes back with its next heartbeat."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.catalog import service as catalog_service
from portal.db import session as db
from portal.execution import workers
from portal.identity.principal import SYSTEM, Principal
from portal.identity.roles import Role
from portal.jobs import queries as jobs_queries
from portal.jobs import runs, writer
from portal.jobs import schemas as job_contract
from portal.jobs import service as jobs_service
from portal.jobs.states import JobState
from tests.conftest import migrated_database
from tests.helpers import item_files, write

ADMIN = Principal(id=None, username="system", role=Role.admin)


@pytest.fixture(params=["sqlite", "postgresql"])
def portal_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    with migrated_database(request, tmp_path / "data", catalog_load_examples=False):
        write(tmp_path / "items" / "again" / "1.0.0", item_files("again", "1.0.0", extra_manifest="idempotent: true\n"))
        write(tmp_path / "items" / "once" / "1.0.0", item_files("once", "1.0.0"))
        catalog_service.import_local(SYSTEM, str(tmp_path / "items"), enforce_roots=False)
        for worker in ("w-a", "w-b"):
            workers.register(worker, "celery", 2)
        yield


def _state(job_id: int) -> tuple[str, str | None]:
    job = jobs_queries.get_job(ADMIN, job_id)
    return job.state.value, job.worker


@pytest.mark.parametrize("second", ["w-b", "w-a"])
def test_a_job_taken_from_a_lost_run_is_out_of_its_reach(portal_db: None, second: str) -> None:
    job_id = jobs_service.create_job(ADMIN, "again", "1.0.0", {}).id
    lost = runs.claim(job_id, "w-a")
    assert lost is not None
    # w-a is lost: its idempotent job goes back to the queue, and a worker (another, or w-a itself once it can
    # reach the database again) claims it.
    assert runs.fail_running("worker lost", "WorkerLost", workers=["w-a"], requeue_idempotent=True) == [job_id]
    assert _state(job_id) == ("QUEUED", None)
    current = runs.claim(job_id, second)
    assert current is not None and current.run != lost.run
    # A second reaper that read the lost run, and the lost run itself, can change nothing any more.
    with db.write() as s:
        stale = writer.transition(s, job_id, JobState.RUNNING, JobState.FAILED, {}, held_by=lost.run)
    assert stale is None
    runs.report_progress(job_id, lost.run, 50, "from the lost run")
    runs.append_logs(job_id, lost.run, None, [{"stream": "stdout", "line": "from the lost run"}])
    runs.append_logs(job_id, current.run, None, [{"stream": "stdout", "line": "from the current run"}])
    assert [line.line for line in jobs_queries.get_logs(ADMIN, job_id).items] == ["from the current run"]
    failed = job_contract.RunResult(succeeded=False, error={"type": "X"})
    assert runs.finish(job_id, lost.run, failed) is None
    assert _state(job_id) == ("RUNNING", second)
    assert jobs_queries.get_job(ADMIN, job_id).message != "from the lost run"
    assert runs.to_stop_among({job_id: lost.run}) == [job_id]  # the lost run is told to stop
    assert runs.to_stop_among({job_id: current.run}) == []
    runs.finish(job_id, current.run, job_contract.RunResult(succeeded=True, result={"ok": True}))
    assert _state(job_id) == ("SUCCEEDED", second)


def test_requeues_are_bounded_and_plain_items_fail(portal_db: None) -> None:
    job_id = jobs_service.create_job(ADMIN, "again", "1.0.0", {}).id
    for _ in range(runs.MAX_REQUEUES):
        assert runs.claim(job_id, "w-a") is not None
        runs.fail_running("worker lost", "WorkerLost", workers=["w-a"], requeue_idempotent=True)
        assert _state(job_id)[0] == "QUEUED"
    runs.claim(job_id, "w-a")
    runs.fail_running("worker lost", "WorkerLost", workers=["w-a"], requeue_idempotent=True)
    assert _state(job_id)[0] == "FAILED"
    plain = jobs_service.create_job(ADMIN, "once", "1.0.0", {}).id
    runs.claim(plain, "w-a")
    runs.fail_running("worker lost", "WorkerLost", workers=["w-a"], requeue_idempotent=True)
    assert _state(plain)[0] == "FAILED"
    assert jobs_queries.get_job(ADMIN, plain).error == {"type": "WorkerLost", "message": "worker lost"}


def test_a_cancelled_job_of_a_lost_worker_is_not_requeued(portal_db: None) -> None:
    job_id = jobs_service.create_job(ADMIN, "again", "1.0.0", {}).id
    runs.claim(job_id, "w-a")
    jobs_service.cancel_job(ADMIN, job_id)  # RUNNING: flagged, the worker would kill it ... but it is gone
    runs.fail_running("worker lost", "WorkerLost", workers=["w-a"], requeue_idempotent=True)
    assert _state(job_id)[0] == "CANCELLED"


def test_a_cancel_between_the_reapers_read_and_its_requeue_wins(portal_db: None) -> None:
    job_id = jobs_service.create_job(ADMIN, "again", "1.0.0", {}).id
    claimed = runs.claim(job_id, "w-a")
    assert claimed is not None
    jobs_service.cancel_job(ADMIN, job_id)  # after the reaper read the job (flag false), before it re-queues
    with db.write() as s:
        row = runs._requeue(s, job_id, claimed.run, "worker lost")
    assert row is not None and row.state == "CANCELLED"
    assert _state(job_id)[0] == "CANCELLED"


def test_a_reaped_worker_comes_back_with_its_heartbeat(portal_db: None) -> None:
    workers.mark_lost(["w-a"])
    assert next(w for w in workers.recent() if w.id == "w-a").stopped_at is not None
    workers.heartbeat("w-a", 0)
    assert next(w for w in workers.recent() if w.id == "w-a").stopped_at is None
