"""Engine and transactions.

Services open their own transactions with `read()` or `write()`. On SQLite a write transaction starts with
`BEGIN IMMEDIATE` (no failing lock upgrades), and the writers of this process queue on a lock first: SQLite's own
busy handler sleeps in growing steps of up to 100 ms, which under contention costs far more than the writes.
Readers never block (WAL).
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from portal.settings import Settings

_lock = threading.Lock()
_sqlite_writer = threading.Lock()
_engine: Engine | None = None
_factory: sessionmaker[Session] | None = None

_WRITE = "portal_write"
_MEMO = "unit_memo"
_UNIT = "unit_info"
_AFTER_COMMIT = "portal_after_commit"

log = logging.getLogger(__name__)


def make_engine(url: str, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    """Create an engine with the pragmas and pool settings the portal relies on (the pool sizes are for a server
    database; SQLite's pool is sized for the process's threads)."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
            pool_size=16,
            max_overflow=32,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # pysqlite's own transaction handling is off (isolation_level=None); we emit BEGIN ourselves.
            if conn.get_execution_options().get(_WRITE):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True, pool_recycle=1800)


def configure(settings: Settings) -> Engine:
    """Create the process-wide engine for these settings (replacing any previous one)."""
    global _engine, _factory
    with _lock:
        if _engine is not None:
            _engine.dispose()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        _engine = make_engine(
            settings.resolved_database_url, settings.database_pool_size, settings.database_max_overflow
        )
        _factory = sessionmaker(bind=_engine, expire_on_commit=False)
        return _engine


@contextmanager
def exclusive(name: str) -> Iterator[None]:
    """One process at a time across every node on PostgreSQL (a session advisory lock); a no-op on SQLite, where
    one process owns the data directory anyway."""
    engine = get_engine()
    if engine.dialect.name != "postgresql":
        yield
        return
    key = zlib.crc32(f"portal:{name}".encode())
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            conn.commit()


def get_engine() -> Engine:
    if _engine is None:
        raise RuntimeError("database not configured: call portal.db.session.configure() first")
    return _engine


def dispose() -> None:
    global _engine, _factory
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine = None
        _factory = None


def _session(write: bool) -> Session:
    if _factory is None:
        raise RuntimeError("database not configured")
    session = _factory()
    if write:
        session.connection(execution_options={_WRITE: True})
        session.info[_AFTER_COMMIT] = []
    return session


@contextmanager
def read() -> Iterator[Session]:
    """A read-only unit of work."""
    session = _session(write=False)
    try:
        yield session
    finally:
        session.close()  # ends the transaction; loaded objects stay readable, detached


def after_commit(session: Session, effect: Callable[[], object]) -> None:
    """Run `effect` once the unit of work of `session` has committed, after its locks are released (never when
    it rolls back): the one place where what a change sets in motion (events, the executor) starts."""
    if _AFTER_COMMIT not in session.info:
        raise RuntimeError("after_commit needs a unit of work opened by db.write()")
    session.info[_AFTER_COMMIT].append(effect)


def memo(session: Session) -> dict[str, Any]:
    """What a unit of work established and need not check again (say, a row it locked); gone with the session."""
    facts: dict[str, Any] = session.info.setdefault(_MEMO, {})
    return facts


@contextmanager
def write() -> Iterator[Session]:
    """A unit of work that commits on success and rolls back on any exception; then runs its after-commit
    effects, in the order they were registered (a failing one is logged, the others still run)."""
    serialize = _engine is not None and _engine.dialect.name == "sqlite"
    effects: list[Callable[[], object]] = []
    if serialize:
        _sqlite_writer.acquire()
    try:
        session = _session(write=True)
        try:
            yield session
            session.commit()
            effects = session.info.pop(_AFTER_COMMIT, [])
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
    finally:
        if serialize:
            _sqlite_writer.release()
    run_effects(effects)


def run_effects(effects: list[Callable[[], object]]) -> None:
    """Run after-commit effects in order; a failing one is logged, the others still run."""
    for effect in effects:
        try:
            effect()
        except Exception:
            log.exception("an after-commit effect failed")


def unit_info(session: Session) -> dict[str, Any]:
    """State of the caller's unit of work that its after-commit effects gather (the job rows to announce, say).
    Usually the session's own; `group_commit` gives each caller of a shared transaction its own, so each caller
    runs only its own effects."""
    info: dict[str, Any] = session.info.setdefault(_UNIT, {})
    return info


def take_unit_effects(session: Session) -> list[Callable[[], object]]:
    """The after-commit effects registered so far and the unit's state, taken off the session (for
    `group_commit`, which hands them to the caller whose work registered them)."""
    effects: list[Callable[[], object]] = session.info[_AFTER_COMMIT]
    session.info[_AFTER_COMMIT] = []
    session.info.pop(_UNIT, None)
    return effects


def refresh_statistics() -> None:
    """Give SQLite's query planner fresh statistics (`ANALYZE`, sampled): without them it guesses, and picks an
    index that reads a whole table for a query another index answers from a few rows. PostgreSQL's autovacuum
    does this on its own."""
    if get_engine().dialect.name != "sqlite":
        return
    with write() as session:
        session.execute(text("PRAGMA analysis_limit=1000"))  # a sample per index: milliseconds, not a scan
        session.execute(text("ANALYZE"))
