"""`portal restore FILE`: bring a backup back into an empty data directory or database.

Nothing of the target changes until everything is ready: the whole archive is verified; its database is
extracted next to the target, checked (`quick_check`, its schema revision) and migrated to this portal's
schema there; the keys are proven to decrypt its secrets; the bundles are written to a staging folder. Only then
is the target replaced, in one step that can be undone: on SQLite the old database and bundle folder are renamed
aside and the new ones renamed in (put back if that fails); on PostgreSQL the old tables are dropped, the schema
made and the rows copied in one transaction, which rolls back whole. Row counts are compared with the manifest.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tarfile import TarFile

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from portal import fs
from portal.backup import tables
from portal.backup.archive import DATABASE, KEYS, ArchiveError, VerifiedArchive, bundle_member, verify
from portal.catalog.bundles import FilesystemBundleStore
from portal.catalog.models import BundleBlob
from portal.db import migrate
from portal.db import session as db
from portal.db.base import utcnow
from portal.execution.models import Worker
from portal.jobs.models import Job
from portal.schedules.models import Schedule
from portal.secrets import crypto
from portal.secrets.models import Secret
from portal.settings import Settings, get_settings

LIVE_WORKER_SECONDS = 60  # a worker that beat this recently is taken for a running node
SAMPLES = 20  # encrypted values of each kind a restore tries to decrypt before it writes anything


class _Secrets(BaseModel):
    encrypted_values: int = 0
    key_fingerprints: list[str] = []
    key_included: bool = False


class BackupHeader(BaseModel):
    """What a restore reads from `portal-backup.json` (anything else in it is ignored)."""

    created_at: str
    schema_revision: str
    secrets: _Secrets = _Secrets()


@dataclass
class RestoreReport:
    created_at: str
    schema_from: str
    schema_to: str
    counts: dict[str, int]
    bundles: int
    missing_bundles: list[str]
    key_written: bool
    seconds: float


def restore(path: Path, *, force: bool = False) -> RestoreReport:
    """Restore the archive at `path` into the configured portal; with `force`, replacing what it holds."""
    started = time.monotonic()
    archive = verify(path)
    header, expected, missing = _read_manifest(archive)
    if header.schema_revision not in migrate.known_revisions():
        raise ArchiveError(
            f"the backup comes from a newer portal (schema {header.schema_revision}), which this one cannot read: "
            "upgrade it first"
        )
    settings = get_settings()
    keys = _archive_keys(archive)
    sqlite_target = settings.resolved_database_url.startswith("sqlite")
    # A SQLite portal reads its key from the data directory; a PostgreSQL one only from PORTAL_SECRETS_KEY.
    write_key = bool(keys) and not settings.secrets_key and sqlite_target
    with _target(settings) as engine:
        _check_empty(engine, settings, force)
        database_home = Path(str(engine.url.database)).parent if sqlite_target else settings.data_dir
        with (
            tempfile.TemporaryDirectory(dir=database_home, prefix=".restore-") as db_work,
            tempfile.TemporaryDirectory(dir=settings.data_dir, prefix=".restore-") as bundle_work,
            archive.open() as tar,
        ):
            snapshot = _stage_database(archive, tar, Path(db_work), header.schema_revision)
            available = (
                keys if write_key else (settings.secrets_key if not sqlite_target else crypto.known_keys(settings))
            )
            _check_secrets(snapshot, available, header, archive.has_keys)
            staged = _stage_bundles(archive, tar, settings, snapshot, Path(bundle_work), sqlite_target)
            if sqlite_target:
                engine = _swap_sqlite(settings, snapshot, staged)
            else:
                _load_postgres(engine, snapshot, archive, tar, settings, force)
                if staged is not None:
                    _swap_bundles(settings, staged)
        if write_key:
            crypto.write_key_file(settings, keys)
        with engine.connect() as conn:
            counts = tables.row_counts(conn)
    if header.schema_revision == migrate.head_revision():
        wrong = {name: (counts.get(name), rows) for name, rows in expected.items() if counts.get(name) != rows}
        if wrong:
            raise ArchiveError(f"the restored tables do not hold the rows the backup counted: {wrong}")
    return RestoreReport(
        created_at=header.created_at,
        schema_from=header.schema_revision,
        schema_to=migrate.head_revision(),
        counts=counts,
        bundles=len(archive.bundles),
        missing_bundles=missing,
        key_written=write_key,
        seconds=time.monotonic() - started,
    )


def _read_manifest(archive: VerifiedArchive) -> tuple[BackupHeader, dict[str, int], list[str]]:
    """The header, the row counts and the bundles the source had lost, or ArchiveError when they are not what a
    backup writes."""
    try:
        header = BackupHeader.model_validate(archive.header)
        counts = {str(k): int(v) for k, v in dict(archive.manifest.get("counts") or {}).items()}
        missing = [str(s) for s in list(archive.manifest.get("missing_bundles") or [])]
    except (ValidationError, TypeError, ValueError) as exc:
        raise ArchiveError(f"the backup's header or manifest is not what a backup writes: {str(exc)[:200]}") from None
    return header, counts, missing


def _archive_keys(archive: VerifiedArchive) -> list[str]:
    if not archive.has_keys:
        return []
    with archive.open() as tar:
        try:
            keys = archive.read_member(tar, KEYS).decode("ascii").split()
        except UnicodeDecodeError:
            raise ArchiveError(f"the archive's {KEYS} is not a list of keys") from None
    if not keys or not all(crypto.valid_key(k) for k in keys):
        raise ArchiveError(f"the archive's {KEYS} does not hold Fernet keys")
    return keys


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
            yield engine
    finally:
        db.dispose()
        os.close(lock)


def _check_no_live_node(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return  # one process owns a SQLite data directory, and it is held
    recent = datetime.now(UTC) - timedelta(seconds=LIVE_WORKER_SECONDS)
    query = select(Worker.id).where(Worker.stopped_at.is_(None), Worker.heartbeat_at > recent).limit(1)
    try:
        with engine.connect() as conn:
            live = conn.scalar(query)
    except SQLAlchemyError:
        return  # no workers table: a new database
    if live is not None:
        raise ArchiveError(f"a portal node is running on this database ({live}): stop every node first")


def _check_empty(engine: Engine, settings: Settings, force: bool) -> None:
    holding: list[str] = []
    absent = engine.dialect.name == "sqlite" and not Path(str(engine.url.database)).exists()
    try:
        holding = [] if absent else tables.holds_data(engine)  # (opening a SQLite file that is not there makes it)
    except SQLAlchemyError:
        holding = ["(a database file this portal cannot read)"]
    files = FilesystemBundleStore(settings.bundles_dir).stored() if settings.bundles_dir.is_dir() else []
    if (holding or files) and not force:
        what = ", ".join(holding[:4]) + (f" and {len(holding) - 4} more tables" if len(holding) > 4 else "")
        held = f"its tables {what} hold rows" if holding else f"{len(files)} bundle files are in {settings.bundles_dir}"
        raise ArchiveError(f"the target is not empty ({held}): restore into a new one, or pass --force to replace it")


def _stage_database(archive: VerifiedArchive, tar: TarFile, work: Path, revision: str) -> Path:
    """The archive's database extracted into `work`, checked and migrated to this portal's schema."""
    snapshot = work / DATABASE
    archive.extract_to(tar, DATABASE, snapshot)
    try:
        with contextlib.closing(sqlite3.connect(str(snapshot))) as conn:
            check = conn.execute("PRAGMA quick_check").fetchone()
            found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error as exc:
        raise ArchiveError(f"the archive's database cannot be read: {exc}") from None
    if check is None or check[0] != "ok":
        raise ArchiveError(f"the archive's database is damaged: {check[0] if check else 'no answer'}")
    if found is None or found[0] != revision:
        raise ArchiveError(f"the archive's database is at schema {found and found[0]}, its header says {revision}")
    engine = db.make_engine(f"sqlite:///{snapshot}")
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return snapshot


def _check_secrets(snapshot: Path, available: list[str], header: BackupHeader, has_keys: bool) -> None:
    """Refuse, before anything is written, a backup whose encrypted values the target's keys cannot decrypt."""
    engine = db.make_engine(f"sqlite:///{snapshot}")
    try:
        with engine.connect() as conn:
            samples = [
                *conn.scalars(select(Secret.ciphertext).limit(SAMPLES)),
                *conn.scalars(select(Job.sealed_inputs).where(Job.sealed_inputs.is_not(None)).limit(SAMPLES)),
                *conn.scalars(select(Schedule.sealed_inputs).where(Schedule.sealed_inputs.is_not(None)).limit(SAMPLES)),
            ]
    finally:
        engine.dispose()
    if all(crypto.decrypts(token, available) for token in samples if token):
        return
    wanted = ", ".join(header.secrets.key_fingerprints) or "unknown (the backup's portal had none configured)"
    where = (
        f"they are in the archive ({KEYS}): put them in PORTAL_SECRETS_KEY"
        if has_keys
        else "set PORTAL_SECRETS_KEY to them, or make the backup with --include-secrets-key"
    )
    raise ArchiveError(
        f"the backup's encrypted values (secrets, sealed inputs) need the key(s) of the portal it came from "
        f"(fingerprints {wanted}), which this portal lacks: {where}"
    )


def _stage_bundles(
    archive: VerifiedArchive, tar: TarFile, settings: Settings, snapshot: Path, work: Path, sqlite_target: bool
) -> Path | None:
    """The bundles made ready: files in a staging folder (returned), or rows in the SQLite snapshot for the
    database store (a PostgreSQL target gets them in its load transaction)."""
    if settings.resolved_bundle_store == "files":
        staged = FilesystemBundleStore(work / "bundles")
        staged.root.mkdir()  # made even for no bundles: the swap puts this folder in place of the target's
        for sha256 in archive.bundles:
            staged.put(archive.read_member(tar, bundle_member(sha256)))
        return staged.root
    if sqlite_target:
        engine = db.make_engine(f"sqlite:///{snapshot}")
        try:
            with engine.begin() as conn:
                _insert_blobs(conn, archive, tar)
        finally:
            engine.dispose()
    return None


def _insert_blobs(conn: Connection, archive: VerifiedArchive, tar: TarFile) -> None:
    for sha256 in archive.bundles:
        data = archive.read_member(tar, bundle_member(sha256))
        values = {"sha256": sha256, "size": len(data), "content": data, "created_at": utcnow()}
        conn.execute(insert(BundleBlob).values(**values))


def _swap_sqlite(settings: Settings, snapshot: Path, staged: Path | None) -> Engine:
    """Put the staged database (and bundle folder) in place of the target's; what they replace is renamed aside
    first and put back if the swap fails, then deleted."""
    target = Path(str(db.get_engine().url.database))
    db.dispose()
    mark = secrets.token_hex(4)
    moves: list[tuple[Path, Path]] = []  # (new place, old place) of what moved, to undo in reverse
    replaced = [target, target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")]
    if staged is not None:
        replaced.append(settings.bundles_dir)
    try:
        for path in replaced:
            if path.exists():
                aside = path.with_name(f".replaced-{mark}-{path.name}")
                os.rename(path, aside)
                moves.append((aside, path))
        os.rename(snapshot, target)
        moves.append((target, snapshot))
        if staged is not None:
            settings.bundles_dir.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staged, settings.bundles_dir)
            moves.append((settings.bundles_dir, staged))
    except BaseException:
        for now, before in reversed(moves):
            with contextlib.suppress(OSError):
                os.rename(now, before)
        raise
    for aside, _ in moves:
        if aside.name.startswith(f".replaced-{mark}-"):
            fs.remove_tree(aside) if aside.is_dir() else aside.unlink(missing_ok=True)
    fs.remove_tree(settings.bundle_cache_dir)
    return db.configure(settings)


def _swap_bundles(settings: Settings, staged: Path) -> None:
    """The staged bundle folder in place of the data directory's (a PostgreSQL portal with the files store)."""
    aside = settings.bundles_dir.with_name(f".replaced-{secrets.token_hex(4)}-bundles")
    if settings.bundles_dir.exists():
        os.rename(settings.bundles_dir, aside)
    os.rename(staged, settings.bundles_dir)
    fs.remove_tree(aside)
    fs.remove_tree(settings.bundle_cache_dir)


def _load_postgres(
    engine: Engine, snapshot: Path, archive: VerifiedArchive, tar: TarFile, settings: Settings, force: bool
) -> None:
    """In one transaction: drop what `force` replaces, make the schema, copy the snapshot's rows (and the
    database store's bundles), move the sequences past the copied keys. A failure leaves the target as it was."""
    source = db.make_engine(f"sqlite:///{snapshot}")
    try:
        with source.connect() as src, engine.begin() as dst:
            if force:
                tables.drop_portal_tables(dst)
            migrate.upgrade_in(dst)
            tables.clear_rows(dst)  # what the migrations may seed is in the snapshot too
            tables.copy_rows(src, dst, skip=[tables.BLOBS])
            if settings.resolved_bundle_store == "database":
                _insert_blobs(dst, archive, tar)
            tables.reset_sequences(dst)
            dst.execute(text("SELECT 1"))
    finally:
        source.dispose()
