"""The SQLite snapshot `portal backup` streams from the live database file, attacked: taken while another process
commits and checkpoints after every commit, it restores to a state that process committed, whole; a reader on an
older snapshot (which keeps the WAL from being checkpointed) makes it wait, then fail with one line, never copy a
torn file; a database in rollback-journal mode is held by the read lock alone; the database bundle store's
blobs travel as members, not inside the archived database."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from portal.backup import sqlite_snapshot
from portal.backup.archive import BUNDLE_MEMBER, DATABASE, ArchiveError, verify
from tests.helpers import EXAMPLES, PORTAL, wait_until
from tests.integration.backup.commands import portal

ROWS = 25_000  # of 4 KB each: a 100 MB database, so that the copy lasts while the committer goes on


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A portal with the example catalog and the attack's tables: rows to rewrite, a log with no gaps, a counter."""
    data = tmp_path / "data"
    imported = portal(data, "catalog", "import-local", str(EXAMPLES))
    assert imported.returncode == 0, imported.stderr
    with closing(sqlite3.connect(data / "portal.db", isolation_level=None)) as conn:
        conn.executescript(
            """
            CREATE TABLE attack_rows (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, pad BLOB NOT NULL);
            CREATE TABLE attack_log (seq INTEGER PRIMARY KEY, pad BLOB NOT NULL);
            CREATE TABLE attack_counter (k INTEGER PRIMARY KEY CHECK (k = 1), seq INTEGER NOT NULL,
                                         total INTEGER NOT NULL);
            INSERT INTO attack_counter VALUES (1, 0, 0);
            """
        )
        conn.execute(
            "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < ?) "
            "INSERT INTO attack_rows SELECT i, 0, randomblob(4000) FROM r",
            (ROWS,),
        )
    return data


def _commit(conn: sqlite3.Connection, seq: int, row: int) -> None:
    """One transaction of the attack: a log entry, a row rewritten somewhere in the file, the counter."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO attack_log VALUES (?, randomblob(3000))", (seq,))
    conn.execute("UPDATE attack_rows SET n = n + 1, pad = randomblob(4000) WHERE id = ?", (row,))
    conn.execute("UPDATE attack_counter SET seq = ?, total = total + 1", (seq,))
    conn.execute("COMMIT")


class Committer(threading.Thread):
    """Commits in a loop through a connection of its own, and checkpoints after each commit: every checkpoint
    would write into the database file while the backup copies it, were the file not held still."""

    def __init__(self, database: Path) -> None:
        super().__init__(daemon=True)
        self.database = database
        self.stop = threading.Event()
        self.committed = 0  # the last transaction known committed
        self.attempted = 0  # the last one begun (committed or not)
        self.checkpoints_held_off = 0  # checkpoints that could not backfill the whole WAL
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(15)
        conn = sqlite3.connect(self.database, isolation_level=None, timeout=60)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            while not self.stop.is_set():
                self.attempted = self.committed + 1
                _commit(conn, self.attempted, rng.randint(1, ROWS))
                self.committed = self.attempted
                busy, log, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if busy or log != done:
                    self.checkpoints_held_off += 1
                time.sleep(0.001)  # the lock is free between two transactions, as between the portal's
        except BaseException as exc:
            self.error = exc
        finally:
            conn.close()


def _archived_database(archive: Path, target: Path) -> Path:
    """The archive's database, checked against its manifest on the way out."""
    verified = verify(archive)
    with verified.open() as tar:
        verified.extract_to(tar, DATABASE, target)
    return target


def _attack_state(database: Path) -> tuple[int, int, tuple[int, int | None, int | None], int]:
    """(counter, total, (log rows, first, last), sum of the rewrites) of a database that passes quick_check."""
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        seq, total = conn.execute("SELECT seq, total FROM attack_counter").fetchone()
        logged = conn.execute("SELECT count(*), min(seq), max(seq) FROM attack_log").fetchone()
        rewrites = conn.execute("SELECT sum(n) FROM attack_rows").fetchone()[0]
    return seq, total, logged, rewrites


def test_a_backup_amid_commits_and_checkpoints_holds_one_committed_state(data: Path, tmp_path: Path) -> None:
    archive = tmp_path / "portal.tar"
    committer = Committer(data / "portal.db")
    committer.start()
    try:
        assert wait_until(lambda: committer.committed >= 50 or not committer.is_alive(), timeout=60)
        before = committer.committed
        made = portal(data, "backup", str(archive))
        after = committer.attempted
        held_off = committer.checkpoints_held_off
    finally:
        committer.stop.set()
        committer.join(timeout=60)
    assert committer.error is None, committer.error
    assert made.returncode == 0, made.stderr

    seq, total, logged, rewrites = _attack_state(_archived_database(archive, tmp_path / "copy.sqlite3"))
    assert before <= seq <= after  # a state the committer reached while the backup ran
    assert logged == (seq, 1, seq)  # every transaction up to it, none after: no gap, nothing torn
    assert total == rewrites == seq
    # The committer's checkpoints were refused while the backup held its snapshot: commits and checkpoints
    # went on during the copy (nothing else here holds a snapshot).
    assert held_off > 0

    restored = portal(tmp_path / "restored", "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert _attack_state(tmp_path / "restored" / "portal.db")[0] == seq


# A reader that keeps one snapshot until told to end: it prints the counter it sees, then waits for a line.
HOLD_SNAPSHOT = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN")
print(conn.execute("SELECT seq FROM attack_counter").fetchone()[0], flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


def _old_snapshot(database: Path, mark: str) -> subprocess.Popen[str]:
    """A reader (another process) on a snapshot older than the last commit. With `mark` "0" it began on a WAL
    wholly checkpointed (read mark 0: a checkpoint may not write the file at all while it lasts), with "i" on
    one holding frames not yet checkpointed (the WAL may be checkpointed only up to its mark)."""
    keeper = sqlite3.connect(database, isolation_level=None)  # keeps the WAL from being checkpointed on close
    try:
        keeper.execute("PRAGMA journal_mode=WAL")
        if mark == "i":
            keeper.execute("PRAGMA wal_autocheckpoint=0")
            _commit(keeper, 1, 1)
        reader = subprocess.Popen(
            [sys.executable, "-c", HOLD_SNAPSHOT, str(database)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert reader.stdout is not None
        seen = int(reader.stdout.readline())
        _commit(keeper, seen + 1, 2)  # a commit the reader does not see
    finally:
        keeper.close()
    return reader


@pytest.mark.parametrize("mark", ["0", "i"])
def test_a_reader_on_an_older_snapshot_makes_the_backup_wait(data: Path, tmp_path: Path, mark: str) -> None:
    archive = tmp_path / "portal.tar"
    reader = _old_snapshot(data / "portal.db", mark)
    backup = subprocess.Popen(
        [PORTAL, "backup", str(archive)],
        env={**os.environ, "PORTAL_DATA_DIR": str(data), "PORTAL_DATABASE_URL": "", "PORTAL_SECRETS_KEY": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # It cannot be done while the reader lasts: the WAL cannot be checkpointed under that reader.
        with pytest.raises(subprocess.TimeoutExpired):
            backup.wait(timeout=3)
    finally:
        reader.communicate("end\n", timeout=30)
    _out, err = backup.communicate(timeout=120)
    assert backup.returncode == 0, err
    seq, total, logged, rewrites = _attack_state(_archived_database(archive, tmp_path / "copy.sqlite3"))
    expected = 2 if mark == "0" else 3  # ROWS rows, then the commits made around the reader
    assert (seq, logged) == (expected - 1, (expected - 1, 1, expected - 1))
    assert total == rewrites == seq


@pytest.mark.parametrize("mark", ["0", "i"])
def test_a_reader_that_keeps_its_snapshot_fails_the_backup_in_one_line(data: Path, mark: str) -> None:
    reader = _old_snapshot(data / "portal.db", mark)
    try:
        with pytest.raises(ArchiveError) as failed, sqlite_snapshot.held(data / "portal.db", busy_seconds=0.5):
            pass
    finally:
        reader.communicate("end\n", timeout=30)
    assert "stayed busy" in failed.value.message and "\n" not in failed.value.message
    # and once the reader is gone, the snapshot is there
    with sqlite_snapshot.held(data / "portal.db", busy_seconds=5) as snapshot:
        assert snapshot.conn.execute("SELECT seq FROM attack_counter").fetchone()[0] == (1 if mark == "0" else 2)


def test_a_rollback_journal_database_is_held_by_the_read_lock(tmp_path: Path) -> None:
    database = tmp_path / "plain.db"
    with closing(sqlite3.connect(database, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.execute("INSERT INTO t VALUES (1)")
    with sqlite_snapshot.held(database) as snapshot:
        assert snapshot.size == database.stat().st_size
        with (
            closing(sqlite3.connect(database, isolation_level=None, timeout=0)) as writer,
            pytest.raises(sqlite3.OperationalError, match="locked"),
        ):
            writer.execute("INSERT INTO t VALUES (2)")  # its commit needs the file: held
        copied = os.pread(snapshot.fd, snapshot.size, 0)
    assert copied == database.read_bytes()


def test_a_missing_database_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="does not exist"), sqlite_snapshot.held(tmp_path / "none.db"):
        pass
    assert not (tmp_path / "none.db").exists()


def test_the_database_stores_bundles_travel_as_members_not_in_the_database(tmp_path: Path) -> None:
    """SQLite with the database bundle store: a scratch copy whose blobs are dropped (and --no-sync)."""
    data, archive, store = tmp_path / "data", tmp_path / "portal.tar", {"PORTAL_BUNDLE_STORE": "database"}
    imported = portal(data, "catalog", "import-local", str(EXAMPLES), **store)
    assert imported.returncode == 0, imported.stderr
    with closing(sqlite3.connect(data / "portal.db")) as conn:
        blobs = dict(conn.execute("SELECT sha256, length(content) FROM bundle_blobs").fetchall())
    assert blobs
    made = portal(data, "backup", "--no-sync", str(archive), **store)
    assert made.returncode == 0, made.stderr

    with tarfile.open(archive) as tar:
        members = {m.group(1): info.size for info in tar.getmembers() if (m := BUNDLE_MEMBER.match(info.name))}
    assert members == blobs
    with closing(sqlite3.connect(_archived_database(archive, tmp_path / "copy.sqlite3"))) as conn:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM bundle_blobs").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM bundles").fetchone()[0] == len(blobs)

    restored = portal(tmp_path / "restored", "restore", str(archive))  # into the files store
    assert restored.returncode == 0, restored.stderr
    assert {p.name.removesuffix(".tar.gz") for p in (tmp_path / "restored" / "bundles").glob("??/*.tar.gz")} == set(
        blobs
    )
