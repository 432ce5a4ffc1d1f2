"""The one after-commit path: what a unit of work sets in motion runs once it has committed, never when it rolls
back, and one failing effect stops none of the others."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from portal.db import session as db
from tests.conftest import migrated_database


@pytest.fixture(params=["sqlite"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    with migrated_database(request, tmp_path / "data", catalog_load_examples=False):
        yield


@pytest.mark.usefixtures("database")
def test_effects_run_after_the_commit_in_order_and_never_after_a_rollback(caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    def committed_when_run() -> None:
        with db.read() as s:  # the change is visible from another session: the commit came first
            ran.append(f"saw {s.execute(text('SELECT count(*) FROM hook_probe')).scalar_one()} rows")

    def failing() -> None:
        raise RuntimeError("planted")

    with db.write() as s:
        s.execute(text("CREATE TABLE hook_probe (n INTEGER)"))
    with db.write() as s:
        s.execute(text("INSERT INTO hook_probe (n) VALUES (1)"))
        db.after_commit(s, committed_when_run)
        db.after_commit(s, failing)
        db.after_commit(s, lambda: ran.append("last"))
        assert ran == []  # nothing before the commit
    assert ran == ["saw 1 rows", "last"]
    assert "an after-commit effect failed" in caplog.text

    def failed_unit_of_work() -> None:
        with db.write() as s:
            db.after_commit(s, lambda: ran.append("rolled back"))
            raise LookupError("the unit of work fails")

    with pytest.raises(LookupError, match="unit of work fails"):
        failed_unit_of_work()
    assert "rolled back" not in ran


@pytest.mark.usefixtures("database")
def test_the_statistics_duty_gives_the_planner_statistics() -> None:
    with db.read() as s:
        before = s.execute(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")).scalar_one()
    db.refresh_statistics()
    with db.read() as s:
        tables = set(s.execute(text("SELECT tbl FROM sqlite_stat1")).scalars())
    assert before == 0 and "alembic_version" in tables  # ANALYZE ran (empty tables get no row of their own)
