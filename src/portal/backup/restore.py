"""`portal restore FILE`: bring a backup back into an empty data directory or database.

The whole archive is verified before anything is written (a foreign, truncated or altered one is refused with
the reason), and so is whether the keys that decrypt its secrets will be there. A SQLite target gets the
snapshot file itself; a PostgreSQL target gets its rows, copied in key order in one transaction. Then the schema
is brought to this portal's revision, the bundles are put into the configured store (files or database, whatever
the source used), and the row counts are compared with the manifest's.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from portal import fs
from portal.backup import tables
from portal.backup.archive import DATABASE, KEYS, ArchiveError, VerifiedArchive, bundle_member, verify
from portal.catalog.blobstore import DatabaseBundleStore
from portal.catalog.bundles import BundleStore, FilesystemBundleStore
from portal.db import migrate
from portal.db import session as db
from portal.execution.models import Worker
from portal.secrets import crypto
from portal.settings import Settings, get_settings

LIVE_WORKER_SECONDS = 60  # a worker that beat this recently is taken for a running node


@dataclass
class RestoreReport:
    created_at: str
    schema_from: str
    schema_to: str
    counts: dict[str, int]
    bundles: int
    key_written: bool
    seconds: float


def restore(path: Path, *, force: bool = False) -> RestoreReport:
    """Restore the archive at `path` into the configured portal; with `force`, replacing what it holds."""
    started = time.monotonic()
    archive = verify(path)
    revision = str(archive.header.get("schema_revision"))
    if revision not in migrate.known_revisions():
        raise ArchiveError(
            f"the backup comes from a newer portal (schema {revision}), which this one cannot read: upgrade it first"
        )
    settings = get_settings()
    with archive.open() as tar:
        keys = archive.read_member(tar, KEYS).decode().split() if archive.has_keys else []
    # A SQLite portal reads its key from the data directory; a PostgreSQL one only from PORTAL_SECRETS_KEY.
    write_key = bool(keys) and not settings.secrets_key and settings.resolved_database_url.startswith("sqlite")
    _check_keys(archive, settings, keys if write_key else crypto.known_keys(settings))
    with _target(settings) as engine:
        _check_empty(engine, settings, force)
        with archive.open() as tar, tempfile.TemporaryDirectory(dir=settings.data_dir, prefix=".restore-") as work:
            snapshot = Path(work) / DATABASE
            archive.extract_to(tar, DATABASE, snapshot)
            if engine.dialect.name == "sqlite":
                engine = _place_sqlite(settings, snapshot)
            else:
                _load_rows(engine, snapshot)
            store = _store(settings)
            for sha256 in archive.bundles:
                store.put(archive.read_member(tar, bundle_member(sha256)))
        if write_key:
            crypto.write_key_file(settings, keys)
        with engine.connect() as conn:
            counts = tables.row_counts(conn)
    _compare_counts(archive, revision, counts)
    return RestoreReport(
        created_at=str(archive.header.get("created_at")),
        schema_from=revision,
        schema_to=migrate.head_revision(),
        counts=counts,
        bundles=len(archive.bundles),
        key_written=write_key,
        seconds=time.monotonic() - started,
    )


def _store(settings: Settings) -> BundleStore:
    """The configured store without the size limit of imports: a restore brings back what the source held."""
    if settings.resolved_bundle_store == "database":
        return DatabaseBundleStore()
    return FilesystemBundleStore(settings.bundles_dir)


def _check_keys(archive: VerifiedArchive, settings: Settings, available: list[str]) -> None:
    secrets = archive.header.get("secrets") or {}
    if not secrets.get("encrypted_values"):
        return
    missing = set(secrets.get("key_fingerprints") or []) - {crypto.fingerprint(k) for k in available}
    if not missing:
        return
    where = (
        f"they are in the archive ({KEYS}): put them in PORTAL_SECRETS_KEY"
        if archive.has_keys
        else "set PORTAL_SECRETS_KEY to them, or make the backup with --include-secrets-key"
    )
    raise ArchiveError(
        f"the backup's {secrets['encrypted_values']} encrypted values (secrets, sealed inputs) need the key(s) "
        f"{', '.join(sorted(missing))} of the portal it came from, which this portal lacks: {where}"
    )


@contextlib.contextmanager
def _target(settings: Settings) -> Iterator[Engine]:
    """The target database, held against a portal starting on it meanwhile: the data directory's serve lock
    (one embedded portal per data directory) and, on PostgreSQL, the lock the nodes take to prepare it."""
    try:
        lock = fs.lock_data_dir(settings.data_dir)
    except RuntimeError:
        raise ArchiveError(f"a portal is running on {settings.data_dir}: stop it before restoring") from None
    try:
        engine = db.configure(settings)
        with db.exclusive("prepare"):
            _check_no_live_node(engine)
            yield db.get_engine()
    finally:
        db.dispose()
        os.close(lock)


def _check_no_live_node(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return  # one process owns a SQLite data directory, and it is held
    with contextlib.suppress(Exception), engine.connect() as conn:  # no workers table: a new database
        recent = datetime.now(UTC) - timedelta(seconds=LIVE_WORKER_SECONDS)
        query = select(Worker.id).where(Worker.stopped_at.is_(None), Worker.heartbeat_at > recent).limit(1)
        live = conn.scalar(query)
        if live is not None:
            raise ArchiveError(f"a portal node is running on this database ({live}): stop every node first")


def _check_empty(engine: Engine, settings: Settings, force: bool) -> None:
    holding = tables.holds_data(engine)
    files = FilesystemBundleStore(settings.bundles_dir).stored() if settings.bundles_dir.is_dir() else []
    if not holding and not files:
        return
    if not force:
        what = ", ".join(holding[:4]) + (f" and {len(holding) - 4} more tables" if len(holding) > 4 else "")
        held = f"its tables {what} hold rows" if holding else f"{len(files)} bundle files are in {settings.bundles_dir}"
        raise ArchiveError(f"the target is not empty ({held}): restore into a new one, or pass --force to replace it")
    tables.drop_everything(engine)
    for folder in (settings.bundles_dir, settings.bundle_cache_dir):
        fs.remove_tree(folder)


def _place_sqlite(settings: Settings, snapshot: Path) -> Engine:
    """Put the snapshot in place as the data directory's database and bring it to this portal's schema."""
    target = Path(str(db.get_engine().url.database))
    db.dispose()
    for leftover in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        leftover.unlink(missing_ok=True)
    os.replace(snapshot, target)
    engine = db.configure(settings)
    migrate.upgrade(engine)
    return engine


def _load_rows(engine: Engine, snapshot: Path) -> None:
    """Copy the snapshot's rows into the target, both at this portal's schema, in one transaction."""
    source = db.make_engine(f"sqlite:///{snapshot}")
    try:
        migrate.upgrade(source)
        migrate.upgrade(engine)
        with source.connect() as src, engine.begin() as dst:
            tables.clear_rows(dst)  # what the migrations may seed is in the snapshot too
            tables.copy_rows(src, dst, skip=[tables.BLOBS])
            tables.reset_sequences(dst)
    finally:
        source.dispose()


def _compare_counts(archive: VerifiedArchive, revision: str, counts: dict[str, int]) -> None:
    """After a restore at the backup's own schema, every table holds the rows the manifest counted."""
    if revision != migrate.head_revision():
        return  # a migration since may have changed what some tables hold
    expected = archive.manifest.get("counts") or {}
    wrong = {name: (counts.get(name), rows) for name, rows in expected.items() if counts.get(name) != rows}
    if wrong:
        raise ArchiveError(f"the restored tables do not hold the rows the backup counted: {wrong}")
