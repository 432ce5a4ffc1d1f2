"""Unprivileged uids for jobs when the portal runs as root: one per running job, across every portal process on
the machine, so that jobs can neither signal, trace nor read each other and per-uid limits count per job.

A uid is held by an exclusive `flock` on a file named after it in a machine-wide directory; the kernel drops the
lock when its holder closes the file or dies, so a crashed worker never leaks a uid.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import stat
from pathlib import Path

LOCK_DIR = Path("/run/portal-job-uids")


class UidsExhausted(RuntimeError):
    """Every uid of the range is held by a running job."""


class UidLease:
    """One uid (and the gid of the same number), held until `release`."""

    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self.gid = uid
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _lock_dir(path: Path) -> int:
    """The lock directory, made by root for root alone; refused if anyone else could have planted it."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    info = os.fstat(fd)
    if info.st_uid != 0 or stat.S_IMODE(info.st_mode) & 0o022:
        os.close(fd)
        raise PermissionError(f"{path} must be a directory owned by root that no one else may write")
    return fd


class UidPool:
    """The uids `first`..`last` (inclusive) for jobs."""

    def __init__(self, first: int, last: int, lock_dir: Path = LOCK_DIR) -> None:
        self.first, self.last = first, last
        self._dir_fd = _lock_dir(lock_dir)

    def acquire(self) -> UidLease:
        """A uid no other running job holds; UidsExhausted when there is none."""
        count = self.last - self.first + 1
        start = random.randrange(count)  # spread the processes of a machine over the range
        for offset in range(count):
            uid = self.first + (start + offset) % count
            fd = os.open(str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=self._dir_fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return UidLease(uid, fd)
        raise UidsExhausted(f"all {count} job uids ({self.first}-{self.last}) are in use by running jobs")

    def close(self) -> None:
        os.close(self._dir_fd)
