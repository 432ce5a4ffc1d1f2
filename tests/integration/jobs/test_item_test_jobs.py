"""Tests and dry runs of catalog versions may run code nobody reviewed: they get no secret and no network, a dry
run waits for the item's approvers like a real run, and neither can be retried into a real run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from portal.catalog import queries as catalog_queries
from portal.catalog import service as catalog_service
from portal.db import session as db
from portal.errors import Conflict
from portal.identity.principal import SYSTEM
from portal.jobs import kinds, submission
from portal.jobs import service as jobs_service
from portal.jobs.models import Job
from tests.conftest import migrated_database
from tests.helpers import item_files, write

MANIFEST = "secrets: [API_TOKEN]\nnetwork:\n  tcp_ports: [443]\napproval:\n  approvers: admin\n"


@pytest.fixture(params=["sqlite"])
def guarded_item(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    with migrated_database(request, tmp_path / "data", catalog_load_examples=False):
        write(tmp_path / "items" / "guarded", item_files("guarded", "1.0.0", extra_manifest=MANIFEST))
        catalog_service.import_local(SYSTEM, str(tmp_path / "items"), enforce_roots=False)
        yield


def insert(kind: str) -> Job:
    runnable = catalog_queries.resolve_runnable("guarded", "1.0.0", any_state=True)
    with db.write() as s:
        row = submission.insert_run(s, SYSTEM, runnable, {}, kind=kind, created_message=kind)
    with db.read() as s:
        job = s.scalar(select(Job).where(Job.id == row.id))
        assert job is not None
        s.expunge(job)
        return job


@pytest.mark.usefixtures("guarded_item")
def test_tests_and_dry_runs_get_no_secret_and_no_network() -> None:
    real = insert(kinds.TASK)
    assert real.secrets == ["API_TOKEN"] and real.resources["network"] == {"tcp_ports": [443]}
    assert real.state == "PENDING_APPROVAL"
    for kind in (kinds.TEST, kinds.DRY_RUN):
        job = insert(kind)
        assert job.secrets == [] and "network" not in job.resources, kind
    assert insert(kinds.DRY_RUN).state == "PENDING_APPROVAL"  # a dry run waits for the approvers
    assert insert(kinds.TEST).state == "QUEUED"


@pytest.mark.usefixtures("guarded_item")
def test_a_test_or_dry_run_is_never_retried_as_a_real_run() -> None:
    job = insert(kinds.TEST)
    with db.write() as s:
        s.execute(update(Job).where(Job.id == job.id).values(state="FAILED"))
    with pytest.raises(Conflict, match="tests or dry run again"):
        jobs_service.retry_job(SYSTEM, job.id)
