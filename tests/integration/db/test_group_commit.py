"""Group commit on SQLite and PostgreSQL: writes arriving together share a transaction, every one of them is
committed and announced before its caller returns, and one that fails leaves nothing behind (no row, no effect,
no counter) while the others of its batch commit. Also through the job service: concurrent launches all land."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from portal.catalog import service as catalog_service
from portal.context import request_id_var
from portal.db import group_commit
from portal.db import session as db
from portal.identity.principal import SYSTEM
from portal.jobs import service as jobs_service
from portal.jobs.models import Job, JobCount
from tests.conftest import migrated_database
from tests.helpers import item_files, wait_until, write


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    with migrated_database(request, tmp_path / "data", catalog_load_examples=False, worker_slots=0):
        with db.write() as s:
            s.execute(text("CREATE TABLE probe (n INTEGER PRIMARY KEY, txid TEXT)"))
        yield tmp_path


_sessions = itertools.count()


def _transaction_id(s: Session) -> str:
    """Something that differs between transactions and is equal within one (a unit of work is one session)."""
    if s.get_bind().dialect.name == "postgresql":
        return str(s.execute(text("SELECT txid_current()")).scalar_one())
    return str(s.info.setdefault("probe_session", next(_sessions)))


announced_in: dict[int, int] = {}  # n -> the thread that ran its after-commit effect


def insert(n: int, effects: list[int]) -> Callable[[Session], int]:
    def work(s: Session) -> int:
        assert request_id_var.get() in (None, f"request-{n}")  # the caller's context, whoever writes the batch
        s.execute(text("INSERT INTO probe (n, txid) VALUES (:n, :t)"), {"n": n, "t": _transaction_id(s)})

        def announce() -> None:
            effects.append(n)
            announced_in[n] = threading.get_ident()

        db.after_commit(s, announce)
        return n

    return work


def test_concurrent_writes_share_transactions_and_all_commit(database: Path) -> None:
    effects: list[int] = []
    results: list[int] = []
    lock = threading.Lock()

    def client(first: int) -> None:
        for n in range(first, first + 25):
            value = group_commit.write_grouped(insert(n, effects))
            assert n in effects  # announced before the caller got its answer
            with lock:
                results.append(value)

    threads = [threading.Thread(target=client, args=(k * 100,)) for k in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == sorted(k * 100 + i for k in range(16) for i in range(25))
    with db.read() as s:
        rows = s.execute(text("SELECT n, txid FROM probe")).all()
    assert len(rows) == 400 and sorted(effects) == sorted(results)
    assert len({txid for _, txid in rows}) < 400  # some shared a transaction


def test_a_failing_unit_leaves_nothing_and_the_rest_of_its_batch_commits(database: Path) -> None:
    effects: list[int] = []
    release = threading.Event()

    def blocker(s: Session) -> int:
        release.wait(10)  # holds the lead while the others queue up behind it: they then form one batch
        return -1

    def failing(s: Session) -> int:
        insert(999, effects)(s)
        raise ValueError("planted")

    outcomes: dict[int, object] = {}

    callers: dict[int, int] = {}

    def call(key: int, work: Callable[[Session], int]) -> None:
        request_id_var.set(f"request-{key}")
        callers[key] = threading.get_ident()
        try:
            outcomes[key] = group_commit.write_grouped(work)
        except ValueError as exc:
            outcomes[key] = exc

    threads = [threading.Thread(target=call, args=(-1, blocker))]
    threads[0].start()
    assert wait_until(lambda: group_commit._leading)
    works: list[tuple[int, Callable[[Session], int]]] = [(1, insert(1, effects)), (999, failing)]
    works += [(2, insert(2, effects))]
    for key, work in works:
        threads.append(threading.Thread(target=call, args=(key, work)))
        threads[-1].start()
    assert wait_until(lambda: len(group_commit._queue) == 3)
    release.set()
    for thread in threads:
        thread.join()
    assert outcomes[1] == 1 and outcomes[2] == 2 and isinstance(outcomes[999], ValueError)
    with db.read() as s:
        rows: dict[int, str] = {row.n: row.txid for row in s.execute(text("SELECT n, txid FROM probe"))}
    assert set(rows) == {1, 2} and rows[1] == rows[2]  # one transaction, without the failed unit
    assert sorted(effects) == [1, 2]
    # Each caller ran its own effects, in its own thread (one that waits on a slow broker holds up no other).
    assert announced_in[1] == callers[1] and announced_in[2] == callers[2]


def test_concurrent_launches_all_land_with_their_counters(database: Path) -> None:
    write(database / "items" / "noop", item_files("noop", "1.0.0"))
    catalog_service.import_local(SYSTEM, str(database / "items"), enforce_roots=False)
    ids: list[int] = []

    def launch() -> None:
        for _ in range(20):
            ids.append(jobs_service.create_job(SYSTEM, "noop", None, {}).id)

    threads = [threading.Thread(target=launch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.read() as s:
        stored = s.scalar(select(func.count()).select_from(Job).where(Job.state == "QUEUED"))
        counted = s.scalar(select(func.sum(JobCount.n)).where(JobCount.state == "QUEUED", JobCount.item_id == "noop"))
        audited = s.scalar(text("SELECT count(*) FROM audit_log WHERE action = 'job.create'"))
    assert len(set(ids)) == 160 and stored == 160 and counted == 160 and audited == 160
