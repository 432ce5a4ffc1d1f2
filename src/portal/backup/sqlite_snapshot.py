"""A consistent snapshot of a live SQLite database read straight from its file, with no copy written first.

In WAL mode (the portal's) commits append to the `-wal` file; the database file changes only when a checkpoint
copies ("backfills") committed WAL frames into it. The snapshot is taken as Litestream takes one, on three
connections:

1. `BEGIN IMMEDIATE` on the first takes the write lock: nothing commits meanwhile.
2. `PRAGMA wal_checkpoint(PASSIVE)` on the second backfills the WAL. It must answer busy 0 and as many frames
   checkpointed as the log holds; a reader still on an older snapshot stops it short (the checkpointer may not
   put newer pages into the file under that reader), and then the lock is released and the step tried again a
   moment later, for up to `BUSY_SECONDS`.
3. A read transaction begins on the third (BEGIN, then a read). The WAL being wholly backfilled (`nBackfill ==
   mxFrame` in the wal-index), wal.c's walTryBeginRead puts it on read mark 0: it reads the database file alone,
   never the WAL. A checkpoint writes into the database file only while it holds WAL_READ_LOCK(0) exclusively
   (walCheckpoint), which that reader holds shared; "holding READ_LOCK(0) prevents a checkpoint from happening",
   as wal.c says. (Were READ_LOCK(0) busy, the reader would hold a read mark i no greater than that mxFrame, and
   walCheckpoint's mxSafeFrame, capped at the marks of the readers it cannot move, would stop every backfill at
   frames the file already holds: the file stays still either way.) Nor can another process's last connection
   checkpoint and delete the WAL on close: that needs an EXCLUSIVE lock on the database file, and this reader
   holds a SHARED one.
4. The write lock is released: the portal commits on (into the WAL, which a writer may even restart from its
   start: not the database file) while the file is copied.

So while that read transaction lasts, the file's first `page_count * page_size` bytes are exactly the database
as of it, and what is read through its connection (the header's figures, the counts, the bundle list) describes
those bytes. Outside WAL mode (a rollback journal) the read transaction's SHARED lock alone keeps every writer
from writing the file. The copy keeps page 1 as it is, WAL flag included: SQLite opens such a file without a
`-wal` beside it as a database in WAL mode with an empty log.

One trap: closing *any* descriptor of a file drops every POSIX lock the process holds on it, SQLite's included.
The descriptor the bytes are read through is therefore opened after the snapshot is held and closed only after
the connections are, and a snapshot is for a process of its own (the `portal backup` command), never one holding
other connections to the database (the server).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from portal.backup.archive import ArchiveError

BUSY_SECONDS = 60.0  # how long a reader on an older snapshot may keep the WAL from being backfilled
PAUSE_SECONDS = 0.05  # between two tries: the portal's readers are short


@dataclass
class Snapshot:
    """The database as of one read transaction: its connection (for queries of that state) and the file's bytes
    that hold it (read them while the transaction lasts)."""

    conn: sqlite3.Connection
    fd: int
    size: int


@contextlib.contextmanager
def held(path: Path, busy_seconds: float = BUSY_SECONDS) -> Iterator[Snapshot]:
    """The database at `path` held still as of now (see the module's docstring) for the block."""
    reader = _connect(path, busy_seconds)
    fd = -1
    try:
        _begin_still_read(path, reader, busy_seconds)
        page_size = int(reader.execute("PRAGMA page_size").fetchone()[0])
        pages = int(reader.execute("PRAGMA page_count").fetchone()[0])
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        if os.fstat(fd).st_size < pages * page_size:
            raise ArchiveError(f"the database file {path} is shorter than its {pages} pages: it is damaged")
        yield Snapshot(reader, fd, pages * page_size)
    finally:
        reader.close()  # ends the read transaction
        if fd >= 0:
            os.close(fd)  # after the connections: it drops this process's locks on the file


def _connect(path: Path, busy_seconds: float) -> sqlite3.Connection:
    # isolation_level None: the transactions are the ones written here. mode=rw: a missing file is an error, not
    # a new empty database.
    if not path.is_file():
        raise ArchiveError(f"the database file {path} does not exist")
    return sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=busy_seconds, isolation_level=None)


def _begin_read(conn: sqlite3.Connection) -> str:
    """Begin a read transaction (BEGIN is deferred: the read takes the lock); the journal mode it sees."""
    conn.execute("BEGIN")
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()


def _begin_still_read(path: Path, reader: sqlite3.Connection, busy_seconds: float) -> None:
    """Leave `reader` in a read transaction during which no byte of the database file changes."""
    if _begin_read(reader) != "wal":
        return  # a rollback journal: this SHARED lock keeps every writer out of the file
    reader.execute("ROLLBACK")
    deadline = time.monotonic() + busy_seconds
    writer = _connect(path, busy_seconds)
    checkpointer = _connect(path, busy_seconds)
    try:
        while True:
            try:
                writer.execute("BEGIN IMMEDIATE")  # waits (busy timeout) for the portal's write transaction
            except sqlite3.OperationalError as exc:
                raise ArchiveError(f"the database stayed locked by a writer for {busy_seconds:g} s: {exc}") from None
            try:
                if _backfilled(checkpointer):
                    _begin_read(reader)
                    if not _backfilled(checkpointer):  # nothing can append meanwhile: the write lock is ours
                        raise ArchiveError("the database's WAL changed under the backup's write lock")
                    return
            finally:
                writer.execute("ROLLBACK")
            if time.monotonic() >= deadline:
                raise ArchiveError(
                    f"the database stayed busy for {busy_seconds:g} s: a reader kept an older snapshot open, so "
                    "its WAL could not be checkpointed for a consistent copy; try again"
                )
            time.sleep(PAUSE_SECONDS)
    finally:
        writer.close()
        checkpointer.close()


def _backfilled(checkpointer: sqlite3.Connection) -> bool:
    """Checkpoint the WAL passively: whether every frame of it is now in the database file."""
    busy, log, done = checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return bool(busy == 0 and log >= 0 and log == done)
