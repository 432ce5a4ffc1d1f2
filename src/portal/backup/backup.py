"""`portal backup FILE`: one consistent archive of a portal that may be running.

The database is snapshotted once. SQLite's (the embedded portal's) is held still by one read transaction while
its file is streamed into the archive, with no copy of it written first (sqlite_snapshot.py says how; writers
go on meanwhile). PostgreSQL's is copied row by row in one read-only REPEATABLE READ transaction into a SQLite
scratch file of the same schema (a logical dump every restore target can read); a SQLite database holding the
bundles as blobs is copied to a scratch file too (SQLite's backup API), to leave the blobs out. The header's
figures, the row counts and the bundle list are read from the snapshot itself. The bundles are those the
snapshot's `bundles` table lists, read from the store while no cleanup may remove one (the database store reads
them in the snapshot's own transaction). Secrets stay encrypted as they are; the keys are in the archive only
when asked for.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from portal import __version__, fs
from portal.backup import sqlite_snapshot, tables
from portal.backup.archive import BACKUP, DATABASE, KEYS, ArchiveError, ArchiveWriter, bundle_member
from portal.catalog import storage
from portal.catalog.bundles import FilesystemBundleStore, sha256_bytes
from portal.db import session as db
from portal.jobs.states import ACTIVE
from portal.secrets import crypto
from portal.settings import Settings, get_settings

BATCH = 100  # bundles read from the database store at a time

# What the snapshot holds: its row counts, the bundles it lists, those the store had lost.
Contents = tuple[dict[str, int], list[str], list[str]]
# The database store's bundles of a list of sha256s (those it has).
Blobs = Callable[[list[str]], dict[str, bytes]]


@dataclass
class BackupReport:
    path: Path
    size: int
    bundles: int
    missing_bundles: list[str]
    counts: dict[str, int]
    key_included: bool
    seconds: float


def backup(path: Path, *, include_key: bool = False, sync: bool = True) -> BackupReport:
    """Write the archive of the configured portal to `path` (replacing a file there only once it is whole); with
    `sync` off, without waiting for it to reach the disk (for a caller that syncs it)."""
    started = time.monotonic()
    settings = get_settings()
    _check_destination(path, settings)
    keys = crypto.known_keys(settings)
    if include_key and not keys:
        raise ArchiveError("--include-secrets-key: this portal has no secrets key configured or in its data directory")
    engine = db.get_engine()
    opened: list[ArchiveWriter] = []

    def start(snapshot: sqlite3.Connection) -> ArchiveWriter:
        """The archive, begun with the header of the snapshot."""
        opened.append(ArchiveWriter(path, _header(settings, snapshot, keys, include_key), sync=sync))
        return opened[-1]

    try:
        with storage.removals_paused():
            if engine.dialect.name == "sqlite" and settings.resolved_bundle_store == "files":
                counts, wanted, missing = _stream_sqlite(Path(str(engine.url.database)), settings, start)
            else:
                with tempfile.TemporaryDirectory(dir=path.parent, prefix=".portal-backup-") as work:
                    counts, wanted, missing = _via_scratch(engine, Path(work) / DATABASE, start)
        writer = opened[0]
        if include_key:
            writer.add_bytes(KEYS, ("\n".join(keys) + "\n").encode())
        counts.pop(tables.BLOBS, None)
        writer.close({"counts": counts, "bundles": len(wanted) - len(missing), "missing_bundles": missing})
    except BaseException:
        for writer in opened:
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


def _stream_sqlite(
    database: Path, settings: Settings, start: Callable[[sqlite3.Connection], ArchiveWriter]
) -> Contents:
    """The live SQLite database, held still while its file is streamed into the archive; then the bundle files
    its snapshot lists (no cleanup removes one meanwhile: the caller holds that off)."""
    with sqlite_snapshot.held(database) as snapshot:
        writer = start(snapshot.conn)
        counts = _row_counts(snapshot.conn)
        wanted = [sha256 for (sha256,) in snapshot.conn.execute("SELECT sha256 FROM bundles ORDER BY sha256")]
        with os.fdopen(snapshot.fd, "rb", buffering=0, closefd=False) as data:
            writer.add_stream(DATABASE, data, snapshot.size)
    missing: list[str] = []
    files = FilesystemBundleStore(settings.bundles_dir)
    for sha256 in wanted:
        path = files.path(sha256)
        content = path.read_bytes() if path.is_file() else None
        if content is None or sha256_bytes(content) != sha256:
            missing.append(sha256)
        else:
            writer.add_bytes(bundle_member(sha256), content, sha256)  # its digest is its name: checked
    return counts, wanted, missing


def _via_scratch(engine: Engine, scratch: Path, start: Callable[[sqlite3.Connection], ArchiveWriter]) -> Contents:
    """The database copied to a SQLite scratch file first; the bundles from the database store (as of the
    snapshot), then the scratch file without their blobs."""
    with _scratch_snapshot(engine, scratch) as source:
        conn = sqlite3.connect(str(scratch), isolation_level=None)
        try:
            writer = start(conn)
            counts = _row_counts(conn)
            wanted = [sha256 for (sha256,) in conn.execute("SELECT sha256 FROM bundles ORDER BY sha256")]
            missing = _add_blobs(writer, wanted, _postgres_blobs(source) if source is not None else _sqlite_blobs(conn))
            # The bundles travel as members: the database in the archive holds no second copy of them.
            if conn.execute(f"SELECT 1 FROM {tables.BLOBS} LIMIT 1").fetchone() is not None:
                conn.execute(f"DELETE FROM {tables.BLOBS}")
                conn.execute("VACUUM")
        finally:
            conn.close()
    writer.add_file(DATABASE, scratch)
    return counts, wanted, missing


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
def _scratch_snapshot(engine: Engine, target: Path) -> Iterator[Connection | None]:
    """Write the snapshot to `target`, then hold the source transaction the database store's bundles are read
    from on PostgreSQL (None on SQLite: the snapshot holds them)."""
    if engine.dialect.name == "sqlite":
        _sqlite_scratch(engine, target)
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


def _sqlite_scratch(engine: Engine, target: Path) -> None:
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


def _header(settings: Settings, conn: sqlite3.Connection, keys: list[str], include_key: bool) -> dict[str, Any]:
    """The archive's header, read from the snapshot (a SQLite file in every case)."""
    revision = _one(conn, "SELECT version_num FROM alembic_version")
    states = sorted(ACTIVE)
    encrypted = (
        _one(conn, "SELECT count(*) FROM secrets")
        # a job's sealed inputs are cleared when it finishes: only unfinished jobs (an index) can hold any
        + _one(
            conn,
            f"SELECT count(*) FROM jobs WHERE state IN ({', '.join('?' * len(states))}) AND sealed_inputs IS NOT NULL",
            *states,
        )
        + _one(conn, "SELECT count(*) FROM schedules WHERE sealed_inputs IS NOT NULL")
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


def _one(conn: sqlite3.Connection, sql: str, *params: Any) -> Any:
    row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def _row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """The rows of each of the portal's tables the snapshot holds."""
    present = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {
        t.name: int(_one(conn, f'SELECT count(*) FROM "{t.name}"')) for t in tables.portal_tables() if t.name in present
    }


def _postgres_blobs(source: Connection) -> Blobs:
    from portal.catalog.models import BundleBlob

    def fetch(part: list[str]) -> dict[str, bytes]:
        query = select(BundleBlob.sha256, BundleBlob.content).where(BundleBlob.sha256.in_(part))
        return {sha256: bytes(content) for sha256, content in source.execute(query)}

    return fetch


def _sqlite_blobs(conn: sqlite3.Connection) -> Blobs:
    def fetch(part: list[str]) -> dict[str, bytes]:
        query = f"SELECT sha256, content FROM {tables.BLOBS} WHERE sha256 IN ({', '.join('?' * len(part))})"
        return {sha256: bytes(content) for sha256, content in conn.execute(query, part)}

    return fetch


def _add_blobs(writer: ArchiveWriter, wanted: list[str], fetch: Blobs) -> list[str]:
    """Add each bundle of the database store the snapshot lists, checked against its sha256; those it lacks."""
    missing: list[str] = []
    for at in range(0, len(wanted), BATCH):
        part = wanted[at : at + BATCH]
        found = fetch(part)
        for sha256 in part:
            data = found.get(sha256)
            if data is None or sha256_bytes(data) != sha256:
                missing.append(sha256)
            else:
                writer.add_bytes(bundle_member(sha256), data, sha256)
    return missing
