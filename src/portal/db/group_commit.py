"""Group commit: units of work that arrive while one commits are written together, in one transaction.

Under load a write spends most of its time waiting for the database's one writer (SQLite) or for its commit's
flush, and on SQLite the thread holding the writer lock competes for the GIL with every thread waiting for it.
`write_grouped(work)` queues `work`; the first caller to find no batch being written leads: it takes every unit
queued meanwhile (at most MAX_BATCH), runs them one after the other in one `db.write()` unit of work, commits
once, then hands the lead to the oldest unit still queued; each caller then runs its own unit's after-commit
effects (`db.unit_info` keeps what they gather apart per caller). A unit that raises
gets its exception; the batch is rolled back and written again without it (so nothing it did, in the database
or in the unit of work's effects and counters, remains). Units must therefore touch nothing but the session.
Each caller returns only once its work is committed and announced, as with `db.write()`.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from portal.db import session as db

T = TypeVar("T")
MAX_BATCH = 64


class _Unit(Generic[T]):
    __slots__ = ("context", "done", "effects", "error", "lead", "result", "work")

    def __init__(self, work: Callable[[Session], T]) -> None:
        self.work = work
        # The caller's context (its request id and client address, which audit entries record): the leader runs
        # each unit in its own caller's context, not the leader's.
        self.context = contextvars.copy_context()
        self.done = threading.Event()
        self.lead = False  # set with `done` when this unit's thread is to write the next batch
        self.result: T | None = None
        self.error: BaseException | None = None
        self.effects: list[Callable[[], object]] = []  # its after-commit effects, run by its own caller


_lock = threading.Lock()
_queue: list[_Unit[Any]] = []
_leading = False


def write_grouped(work: Callable[[Session], T]) -> T:
    """Run `work(session)` in a unit of work shared with the writes queued at the same moment; its result, or
    the exception it raised."""
    global _leading
    unit: _Unit[T] = _Unit(work)
    with _lock:
        _queue.append(unit)
        lead = not _leading
        _leading = True
    if not lead:
        unit.done.wait()
        if unit.lead:  # handed the lead: this unit is first of the queue
            unit.done.clear()
            lead = True
    if lead:
        _write_batch()
    if unit.error is not None:
        raise unit.error
    # Its own announcements, in its own thread and context: a slow one (a broker that does not answer) holds up
    # only its own caller, not the batch.
    db.run_effects(unit.effects)
    return unit.result  # type: ignore[return-value]


def _write_batch() -> None:
    """Write the queued units (this thread's own first) as one transaction, then pass the lead on."""
    global _leading
    with _lock:
        batch = _queue[:MAX_BATCH]
        del _queue[:MAX_BATCH]
    try:
        _commit(batch)
    except BaseException as exc:  # the commit itself failed: every unit of the batch failed with it
        for unit in batch:
            unit.error = unit.error or exc
    finally:
        with _lock:
            successor = _queue[0] if _queue else None
            _leading = successor is not None
        for unit in batch:
            unit.done.set()
        if successor is not None:
            successor.lead = True
            successor.done.set()


class _UnitFailed(Exception):
    """A unit of the batch raised: the batch is rolled back and written again without it."""


def _commit(batch: list[_Unit[Any]]) -> None:
    pending = list(batch)
    while pending:
        failed: _Unit[Any] | None = None
        try:
            with db.write() as s:
                for unit in pending:
                    try:
                        unit.result = unit.context.run(unit.work, s)
                    except Exception as exc:
                        failed, unit.error = unit, exc
                        raise _UnitFailed from exc
                    unit.effects = db.take_unit_effects(s)
            return
        except _UnitFailed:
            pending.remove(failed)  # type: ignore[arg-type]
