"""Running an item's tests and dry runs: each test case of a version is a job of kind `catalog_test`, run in the
job sandbox like any task (on import and on demand); a dry run is one job of kind `catalog_dry_run` with the
inputs given. Neither counts as a run of the item. A version's test results are its latest test run's cases,
each judged against its expectation (`catalog.item_tests.verdict`), and can gate its activation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from portal.audit import service as audit
from portal.catalog import access, administration, lifecycle
from portal.catalog import queries as catalog_queries
from portal.catalog.admin_schemas import TestCaseOut, TestResults
from portal.catalog.item_tests import Case, read_cases, verdict
from portal.catalog.models import CatalogItem, CatalogVersion
from portal.catalog.schemas import ImportedVersion
from portal.db import session as db
from portal.errors import Conflict, NotFound
from portal.identity.principal import Principal
from portal.jobs import kinds, submission
from portal.jobs.models import ItemTestCase, Job
from portal.jobs.schemas import JobOut
from portal.jobs.writer import changed
from portal.settings import get_settings


def start(actor: Principal, item_id: str, version: str) -> TestResults:
    """Queue a job per test case of a version (none when it ships no tests); its results (`results`)."""
    with db.read() as s:
        _, row = _managed(s, actor, item_id, version)
        cases = _cases_of(row)
    if not cases:
        return results(item_id, version)
    runnable = catalog_queries.resolve_runnable(item_id, version, any_state=True)
    with db.write() as s:
        first: int | None = None
        for case in cases:
            job = submission.insert_run(
                s,
                actor,
                runnable,
                case.inputs,
                kind=kinds.TEST,
                created_message=f"test {case.name} of {item_id} {version}",
            )
            first = first or job.id
            s.add(
                ItemTestCase(
                    item_id=item_id, version=version, run=first, name=case.name, job_id=job.id, expect=case.expect
                )
            )
        audit.record(
            s,
            actor,
            "catalog.version.test",
            target_type="item_version",
            target_id=f"{item_id}@{version}",
            details={"cases": [c.name for c in cases], "run": first},
        )
    return results(item_id, version)


def results_for(actor: Principal, item_id: str, version: str) -> TestResults:
    """`results` for the item's maintainers and admins."""
    with db.read() as s:
        _managed(s, actor, item_id, version)
    return results(item_id, version)


def results(item_id: str, version: str) -> TestResults:
    """The latest test run of a version's current content (a replaced or re-imported version's old runs do not
    count): each case with its job, its state and whether it passed."""
    with db.read() as s:
        sha = s.scalar(
            select(CatalogVersion.bundle_sha256).where(
                CatalogVersion.item_id == item_id, CatalogVersion.version == version
            )
        )
        run = s.scalar(
            select(func.max(ItemTestCase.run))
            .join(Job, Job.id == ItemTestCase.job_id)
            .where(ItemTestCase.item_id == item_id, ItemTestCase.version == version, Job.bundle_sha256 == sha)
        )
        if run is None:
            return TestResults(item_id=item_id, version=version, run=None, passed=None, cases=[])
        rows = s.execute(
            select(ItemTestCase.name, ItemTestCase.expect, Job.id, Job.state, Job.result, Job.error)
            .join(Job, Job.id == ItemTestCase.job_id)
            .where(ItemTestCase.item_id == item_id, ItemTestCase.version == version, ItemTestCase.run == run)
            .order_by(ItemTestCase.id)
        ).all()
    cases = []
    for name, expect, job_id, state, result, error in rows:
        passed, reason = verdict(expect, state, result, error)
        cases.append(TestCaseOut(name=name, job_id=job_id, state=state, passed=passed, reason=reason))
    outcome = None if any(c.passed is None for c in cases) else all(c.passed for c in cases)
    return TestResults(item_id=item_id, version=version, run=run, passed=outcome, cases=cases)


def activation_gate(item: CatalogItem, row: CatalogVersion) -> str | None:
    """Why a version may not become active yet: its item requires passing tests, and its latest test run has
    not passed (or is still running). None when it may."""
    required = item.tests_required if item.tests_required is not None else get_settings().catalog_tests_required
    if not required:
        return None
    if not _cases_of(row):
        return None
    found = results(row.item_id, row.version)
    if found.passed is True:
        return None
    if found.run is None:
        return "its tests have not run"
    return "its tests are still running" if found.passed is None else "its tests failed"


def dry_run(actor: Principal, item_id: str, version: str, inputs: dict[str, Any]) -> JobOut:
    """Run a version (in any state but archived) with sample inputs, in the sandbox; not a run of the item."""
    with db.read() as s:
        _managed(s, actor, item_id, version)
    runnable = catalog_queries.resolve_runnable(item_id, version, any_state=True)
    submission.check_runnable(runnable, inputs)
    with db.write() as s:
        row = submission.insert_run(
            s, actor, runnable, inputs, kind=kinds.DRY_RUN, created_message=f"dry run of {item_id} {version}"
        )
        audit.record(
            s,
            actor,
            "catalog.version.dry_run",
            target_type="job",
            target_id=row.id,
            details={"item_id": item_id, "version": version},
        )
    return changed(row)


def start_for_imported(actor: Principal, imported: list[ImportedVersion]) -> None:
    """Run the tests of each version an import registered or replaced (and that ships any)."""
    for version in imported:
        if version.outcome in ("imported", "replaced"):
            start(actor, version.item_id, version.version)


def _managed(s: Any, actor: Principal, item_id: str, version: str) -> tuple[CatalogItem, CatalogVersion]:
    item = administration.item_row(s, item_id)
    access.check_may_manage(actor, item)
    row = s.scalar(select(CatalogVersion).where(CatalogVersion.item_id == item_id, CatalogVersion.version == version))
    if row is None:
        raise NotFound(f"version {version!r} of {item_id!r} not found", details={"field": "version"})
    if row.status == lifecycle.ARCHIVED:
        raise Conflict(f"{item_id} {version} is archived", details={"state": row.status})
    return item, row


def _cases_of(row: CatalogVersion) -> list[Case]:
    """The cases a version shipped (read at import; a development version's folder is read again: it changes)."""
    if row.dev_path:
        return read_cases(Path(row.dev_path))[0]
    return [Case.of(stored) for stored in row.tests or []]
