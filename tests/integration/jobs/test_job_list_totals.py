"""The jobs list's `total` comes from counters kept with every state change (and, for a kind filter, from the
index of the jobs that are not runs): it must equal a count of the jobs for every filter, search and viewer, on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, or_, select, update

from portal.auth import service as auth_service
from portal.catalog import service as catalog_service
from portal.db import session as db
from portal.identity.principal import SYSTEM, Principal
from portal.identity.roles import Role
from portal.jobs import queries as jobs_queries
from portal.jobs import service as jobs_service
from portal.jobs.models import Job
from portal.jobs.states import JobState
from tests.conftest import migrated_database
from tests.helpers import item_files, write


@pytest.fixture(params=["sqlite", "postgresql"])
def jobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Principal]]:
    """Two requesters with jobs of two items, some of them cancelled; returns the requesters."""
    with migrated_database(request, tmp_path / "data", catalog_load_examples=False):
        write(tmp_path / "items" / "alpha", item_files("alpha", "1.0.0"))
        write(tmp_path / "items" / "beta12", item_files("beta12", "1.0.0"))
        catalog_service.import_local(SYSTEM, str(tmp_path / "items"), enforce_roots=False)
        users: dict[str, Principal] = {}
        for name in ("alice", "bob1"):
            user, _ = auth_service.create_user(SYSTEM, name, "requester", "correct-horse-battery")
            users[name] = Principal(id=user.id, username=name, role=Role.requester)
        plan = [("alice", "alpha")] * 5 + [("alice", "beta12")] * 3 + [("bob1", "alpha")] * 2 + [("bob1", "beta12")] * 4
        for n, (name, item) in enumerate(plan):
            job = jobs_service.create_job(users[name], item, "1.0.0", {})
            if n % 3 == 0:
                jobs_service.cancel_job(users[name], job.id)
            if n % 4 == 1 or n % 5 == 2:  # a few jobs of the other kinds, as dry runs and test cases are
                with db.write() as s:
                    kind = "catalog_dry_run" if n % 4 == 1 else "catalog_test"
                    s.execute(update(Job).where(Job.id == job.id).values(kind=kind))
        yield users


def _count(conditions: list[Any]) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Job).where(*conditions)) or 0)


def test_totals_equal_a_count_of_the_jobs(jobs: dict[str, Principal]) -> None:
    admin = Principal(id=None, username="system", role=Role.admin)
    with db.read() as s:
        first_id, last_id = s.execute(select(func.min(Job.id), func.max(Job.id))).one()
    owners = {u.username: u.id for u in jobs.values()}
    items = ("alpha", "beta12")

    def matching(q: str) -> Any:
        """What `q` finds, worked out here from the names: a job id, items and users containing it."""
        terms: list[Any] = [Job.id == int(q)] if q.isdigit() else []
        terms += [Job.item_id == item for item in items if q in item]
        terms += [Job.created_by == owners[name] for name in owners if q in name]
        return or_(*terms) if terms else Job.id < 0

    queries = [None, "alp", "bob", "1", "12", str(first_id + 1), str(last_id), "nothing"]
    searches: dict[str | None, Any] = {q: None if q is None else matching(q) for q in queries}
    viewers = {"admin": admin, **jobs}
    states: list[list[JobState] | None] = [None, [JobState.CANCELLED], [JobState.QUEUED, JobState.CANCELLED]]
    kinds: list[list[str] | None] = [
        None,
        ["catalog_execution"],
        ["catalog_dry_run"],
        ["catalog_execution", "catalog_test"],
        ["catalog_test", "catalog_dry_run", "catalog_import"],
    ]
    checked = 0
    for (viewer, actor), state, kind, item, (q, match) in product(
        viewers.items(), states, kinds, [None, "alpha", "beta12"], searches.items()
    ):
        conditions: list[Any] = []
        if kind:
            conditions.append(Job.kind.in_(kind))
        if viewer != "admin":
            conditions.append(Job.created_by == actor.id)
        if state:
            conditions.append(Job.state.in_([s.value for s in state]))
        if item:
            conditions.append(Job.item_id == item)
        if match is not None:
            conditions.append(match)
        page = jobs_queries.list_jobs(actor, states=state, job_kinds=kind, item_id=item, q=q, page_size=100)
        expected = _count(conditions)
        assert page.total == expected, (viewer, state, kind, item, q)
        assert len(page.items) == expected
        checked += 1
    assert checked == 3 * 3 * len(kinds) * 3 * len(searches)
    with db.read() as s:  # the fixture made jobs of each kind it filters on
        assert {k for (k,) in s.execute(select(Job.kind).distinct())} >= {"catalog_dry_run", "catalog_test"}


def test_a_search_that_only_looks_numeric_finds_by_name(jobs: dict[str, Principal]) -> None:
    admin = Principal(id=None, username="system", role=Role.admin)
    for q in ("²", "9" * 25):  # a digit to str.isdigit() that int() refuses; beyond the database's integers
        page = jobs_queries.list_jobs(admin, q=q)
        assert page.total == len(page.items) == 0
