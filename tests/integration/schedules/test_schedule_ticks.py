"""Exactly one job per tick with several schedulers ticking one database at once, on SQLite and PostgreSQL.

Four processes call the scheduler's tick for the same instants at the same moment (a barrier), over several
rounds; every schedule is due in every round. Each (schedule, tick) must end with exactly one job, whichever
process created it.
"""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from portal.db import session as db
from portal.schedules import ticks
from portal.settings import Settings, use_settings
from tests.helpers import PortalServer

PROCESSES = 4
SCHEDULES = 8
ROUNDS = 5


def _ticker(data_dir: str, url: str, instants: list[str], barrier: Barrier, results: Any) -> None:
    """One scheduler process: tick at each instant, in step with the others."""
    from portal.db import session as db
    from portal.schedules import ticks
    from portal.settings import Settings, use_settings

    settings = Settings(data_dir=Path(data_dir), database_url=url, scheduler=False)
    use_settings(settings)
    db.configure(settings)
    created: list[int] = []
    try:
        for instant in instants:
            barrier.wait(timeout=60)
            created.extend(ticks.tick(now=datetime.fromisoformat(instant)).jobs)
    finally:
        results.put(created)
        db.dispose()


def _tick_everywhere(data_dir: Path, url: str, instants: list[datetime], processes: int) -> list[list[int]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_ticker, args=(str(data_dir), url, [i.isoformat() for i in instants], barrier, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    created = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    return created


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_several_schedulers_create_exactly_one_job_per_tick(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data_dir = tmp_path / "data"
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else ""
    env = {"PORTAL_SCHEDULER": "false", "PORTAL_WORKER_SLOTS": "0", "PORTAL_DATABASE_URL": url}
    server = PortalServer(data_dir, env=env).start()
    try:
        with server.client(server.token_for("admin")) as admin:
            for n in range(SCHEDULES):
                created = admin.post(
                    "/api/admin/schedules",
                    json={"name": f"race {n}", "item_id": "noop", "cron": "* * * * *", "timezone": "Europe/Berlin"},
                )
                assert created.status_code == 201, created.text
            schedules = admin.get("/api/admin/schedules").json()["items"]
    finally:
        server.stop()
    assert len(schedules) == SCHEDULES
    first = max(datetime.fromisoformat(s["next_run_at"]) for s in schedules) + timedelta(seconds=1)
    # Every schedule is due at each of these instants (every minute), once per instant.
    instants = [first + timedelta(minutes=r) for r in range(ROUNDS)]

    per_process = _tick_everywhere(data_dir, url, instants, PROCESSES)
    print("jobs created per process:", [len(ids) for ids in per_process])
    reported = [job_id for ids in per_process for job_id in ids]
    assert len(reported) == len(set(reported)) == SCHEDULES * ROUNDS

    engine = create_engine(url or f"sqlite:///{data_dir / 'portal.db'}")
    try:
        with engine.connect() as conn:
            runs = conn.execute(text("SELECT schedule_id, due_at, job_id FROM schedule_runs")).all()
            jobs = conn.execute(text("SELECT id FROM jobs WHERE item_id = 'noop'")).scalars().all()
            messages = (
                conn.execute(text("SELECT message FROM job_events WHERE message LIKE 'created by schedule #%'"))
                .scalars()
                .all()
            )
        assert len(runs) == SCHEDULES * ROUNDS
        assert len({(r.schedule_id, r.due_at) for r in runs}) == len(runs)
        assert sorted(r.job_id for r in runs) == sorted(jobs) == sorted(reported)
        assert len(messages) == len(jobs)
        for schedule in schedules:
            assert sum(1 for r in runs if r.schedule_id == schedule["id"]) == ROUNDS

        # The second guard: a schedule moved back onto a tick that already ran (a clock behind, an edit) does
        # not run that tick again; it just moves on.
        victim = schedules[0]["id"]
        with engine.begin() as conn:
            ran = conn.execute(
                text("SELECT min(due_at) FROM schedule_runs WHERE schedule_id = :id"), {"id": victim}
            ).scalar_one()
            conn.execute(text("UPDATE schedules SET next_run_at = :due WHERE id = :id"), {"due": ran, "id": victim})
        again = _tick_everywhere(data_dir, url, [instants[0]], 2)
        assert again == [[], []]
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM jobs")).scalar_one() == len(jobs)
            moved_on = conn.execute(text("SELECT next_run_at FROM schedules WHERE id = :id"), {"id": victim})
            assert moved_on.scalar_one() != ran

        # Retention: the record of a tick older than the kept days is forgotten, the others stay.
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE schedule_runs SET at = :old WHERE schedule_id = :id AND due_at = :due"),
                {"old": datetime(2020, 1, 1), "id": victim, "due": ran},
            )
        settings = Settings(data_dir=data_dir, database_url=url, scheduler=False)
        use_settings(settings)
        db.configure(settings)
        try:
            assert ticks.prune_runs(datetime(2021, 1, 1)) == 1
            assert ticks.prune_runs(datetime(2021, 1, 1)) == 0
        finally:
            db.dispose()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM schedule_runs")).scalar_one() == len(runs) - 1
    finally:
        engine.dispose()
