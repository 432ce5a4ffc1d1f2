"""`portal backup FILE`: one consistent archive of a portal that may be running.

The database is snapshotted once: on SQLite through its online backup API (writers go on meanwhile), on
PostgreSQL by copying every row in one read-only REPEATABLE READ transaction into a SQLite file of the same
schema (a logical dump every restore target can read). The bundles are those the snapshot's `bundles` table
lists, read from the store while no cleanup may remove one (the database store reads them in the snapshot's
own transaction). Secrets stay encrypted as they are; the keys are in the archive only when asked for.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, select, text

from portal import __version__, fs
from portal.backup import tables
from portal.backup.archive import BACKUP, DATABASE, KEYS, ArchiveError, ArchiveWriter, bundle_member
from portal.catalog import storage
from portal.catalog.bundles import FilesystemBundleStore, sha256_bytes
from portal.catalog.models import Bundle, BundleBlob
from portal.db import session as db
from portal.jobs.models import Job
from portal.jobs.states import ACTIVE
from portal.schedules.models import Schedule
from portal.secrets import crypto
from portal.secrets.models import Secret
from portal.settings import Settings, get_settings


@dataclass
class BackupReport:
    path: Path
    size: int
    bundles: int
    missing_bundles: list[str]
    counts: dict[str, int]
    key_included: bool
    seconds: float


def backup(path: Path, *, include_key: bool = False) -> BackupReport:
    """Write the archive of the configured portal to `path` (replacing a file there only once it is whole)."""
    started = time.monotonic()
    settings = get_settings()
    _check_destination(path, settings)
    keys = crypto.known_keys(settings)
    if include_key and not keys:
        raise ArchiveError("--include-secrets-key: this portal has no secrets key configured or in its data directory")
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".portal-backup-") as work:
        snapshot = Path(work) / DATABASE
        writer: ArchiveWriter | None = None
        try:
            with _snapshot(db.get_engine(), snapshot) as source:
                snap = db.make_engine(f"sqlite:///{snapshot}")
                try:
                    with snap.connect() as conn:
                        header = _header(settings, conn, keys, include_key)
                        counts = tables.row_counts(conn)
                        wanted = list(conn.scalars(select(Bundle.sha256).order_by(Bundle.sha256)))
                        writer = ArchiveWriter(path, header)
                        missing = _add_bundles(writer, settings, wanted, source or conn)
                    _drop_blobs(snap)
                finally:
                    snap.dispose()
            writer.add_file(DATABASE, snapshot)
            if include_key:
                writer.add_bytes(KEYS, ("\n".join(keys) + "\n").encode())
            counts.pop(tables.BLOBS, None)
            writer.close({"counts": counts, "bundles": len(wanted) - len(missing), "missing_bundles": missing})
        except BaseException:
            if writer is not None:
                writer.abandon()
            raise
    return BackupReport(
        path=path,
        size=path.stat().st_size,
        bundles=len(wanted) - len(missing),
        missing_bundles=missing,
        counts=counts,
        key_included=include_key,
        seconds=time.monotonic() - started,
    )


def _check_destination(path: Path, settings: Settings) -> None:
    """Refuse to write the archive over the portal's own files, a folder, or a file that is not a backup."""
    if path.is_dir():
        raise ArchiveError(f"{path} is a directory: name the archive file")
    target = path.resolve()
    database = db.get_engine().url.database
    own = {settings.data_dir / name for name in (crypto.KEY_FILE, fs.SERVE_LOCK, storage.REMOVAL_LOCK)}
    if database:
        own |= {Path(database + suffix) for suffix in ("", "-wal", "-shm")}
    inside = (settings.bundles_dir, settings.data_dir / "cache", settings.scratch_dir)
    if target in {p.resolve() for p in own} or any(target.is_relative_to(d.resolve()) for d in inside):
        raise ArchiveError(f"{path} is one of the portal's own files: write the archive elsewhere")
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as fh:
            start = fh.read(512)
        if not start[: len(BACKUP.header)] == BACKUP.header.encode():
            raise ArchiveError(f"{path} exists and is not a portal backup: it is not replaced")


@contextlib.contextmanager
def _snapshot(engine: Engine, target: Path) -> Iterator[Connection | None]:
    """Write the snapshot to `target`, then hold (while no bundle file may be removed) the source transaction
    the database store's bundles are read from on PostgreSQL (None on SQLite: the snapshot holds them)."""
    with storage.removals_paused():
        if engine.dialect.name == "sqlite":
            _sqlite_snapshot(engine, target)
            yield None
            return
        from portal.db import migrate  # here: a SQLite backup needs no alembic (0.2 s to import)

        current, head = migrate.revisions(engine)
        if current != head:
            raise ArchiveError(f"the database is at schema {current}, this portal at {head}: run `portal migrate`")
        conn = engine.connect().execution_options(isolation_level="REPEATABLE READ")
        try:
            conn.begin()
            conn.execute(text("SET TRANSACTION READ ONLY"))
            snap = db.make_engine(f"sqlite:///{target}")
            try:
                migrate.upgrade(snap)
                with snap.begin() as out:
                    tables.copy_rows(conn, out, skip=[tables.BLOBS])
            finally:
                snap.dispose()
            yield conn
        finally:
            conn.close()


def _sqlite_snapshot(engine: Engine, target: Path) -> None:
    source = sqlite3.connect(str(engine.url.database), timeout=30)
    copy = sqlite3.connect(str(target))
    # A scratch file: the archive's own fsync is what makes the backup durable (this halves the copy's time).
    copy.execute("PRAGMA journal_mode=OFF")
    copy.execute("PRAGMA synchronous=OFF")
    try:
        source.backup(copy)  # all pages in one step: one read transaction, so one consistent state
    finally:
        copy.close()
        source.close()


def _header(settings: Settings, conn: Connection, keys: list[str], include_key: bool) -> dict[str, Any]:
    revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
    encrypted = sum(
        int(conn.scalar(select(func.count()).select_from(table).where(condition)) or 0)
        for table, condition in (
            (Secret.__table__, text("1 = 1")),
            # a job's sealed inputs are cleared when it finishes: only unfinished jobs (an index) can hold any
            (Job.__table__, and_(Job.state.in_(ACTIVE), Job.sealed_inputs.is_not(None))),
            (Schedule.__table__, Schedule.sealed_inputs.is_not(None)),
        )
    )
    return {
        "created_at": datetime.now(UTC).isoformat(),
        "portal_version": __version__,
        "host": socket.gethostname(),
        "schema_revision": revision,
        "source": {"database": db.get_engine().dialect.name, "bundle_store": settings.resolved_bundle_store},
        "secrets": {
            "encrypted_values": encrypted,
            "key_fingerprints": [crypto.fingerprint(k) for k in keys],
            "key_included": include_key,
        },
    }


def _add_bundles(writer: ArchiveWriter, settings: Settings, wanted: list[str], blobs: Connection) -> list[str]:
    """Add each bundle the snapshot lists, checked against its sha256 (from the files, or from the bundle table
    as of the snapshot); those the store has lost."""
    missing: list[str] = []
    if settings.resolved_bundle_store == "files":
        files = FilesystemBundleStore(settings.bundles_dir)
        for sha256 in wanted:
            path = files.path(sha256)
            if not path.is_file() or sha256_bytes(path.read_bytes()) != sha256:
                missing.append(sha256)
                continue
            writer.add_file(bundle_member(sha256), path)
        return missing
    for start in range(0, len(wanted), 100):
        part = wanted[start : start + 100]
        query = select(BundleBlob.sha256, BundleBlob.content).where(BundleBlob.sha256.in_(part))
        found = {sha256: bytes(content) for sha256, content in blobs.execute(query)}
        for sha256 in part:
            data = found.get(sha256)
            if data is None or sha256_bytes(data) != sha256:
                missing.append(sha256)
            else:
                writer.add_bytes(bundle_member(sha256), data)
    return missing


def _drop_blobs(snap: Engine) -> None:
    """The bundles travel as members: a snapshot of the database store holds no second copy of them."""
    with snap.begin() as conn:
        if conn.execute(select(BundleBlob.sha256).limit(1)).first() is None:
            return
        conn.execute(delete(BundleBlob))
    with snap.connect() as conn:
        conn.exec_driver_sql("VACUUM")
