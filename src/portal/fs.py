"""File-system helpers every layer may use."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ROUNDS = 10  # a folder that something keeps filling is listed again at most this often


SERVE_LOCK = "serve.lock"


def lock_data_dir(data_dir: Path) -> int:
    """Hold the data directory for this process (an exclusive lock on its `serve.lock`, kept while the returned
    descriptor is open): one embedded portal per data directory, and no restore under a running one."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(data_dir / SERVE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RuntimeError(
            f"another portal is already serving {data_dir} (embedded mode runs one process per data directory)"
        ) from None
    return fd


@contextlib.contextmanager
def file_lock(path: Path, *, shared: bool, wait: bool) -> Iterator[bool]:
    """Hold an advisory lock on `path` (made if missing) for the block; yields False when `wait` is off and
    another process holds it in a conflicting mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Opened for reading (a lock needs no more) and readable by all: a backup run as root and the portal's own
    # user then share it, whoever made it first. It holds nothing.
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    if os.fstat(fd).st_uid == os.geteuid():
        os.fchmod(fd, 0o644)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def remove_tree(path: Path) -> None:
    """Remove `path` and everything below it without following any symbolic link (a link is removed, never its
    target). Nothing that changes the tree meanwhile can redirect it: every step is relative to an open directory."""
    try:
        parent = os.open(path.parent, _DIR_FLAGS)
    except FileNotFoundError:
        return
    try:
        _remove_entry(parent, path.name)
    finally:
        os.close(parent)


def _remove_entry(parent: int, name: str) -> None:
    # An explicit stack (a task may leave a tree deeper than Python's recursion limit) of
    # (directory fd, entry name, the entry's own fd once opened, rounds of listing it so far).
    stack: list[tuple[int, str, int | None, int]] = [(parent, name, None, 0)]
    while stack:
        dir_fd, entry, opened, rounds = stack[-1]
        if opened is None:
            try:
                os.unlink(entry, dir_fd=dir_fd)  # files, links, sockets: unlink never follows a link
                stack.pop()
                continue
            except FileNotFoundError:
                stack.pop()
                continue
            except (IsADirectoryError, PermissionError):
                pass
            except OSError as exc:
                if exc.errno != errno.EISDIR:
                    raise
            try:
                fd = os.open(entry, _DIR_FLAGS, dir_fd=dir_fd)
            except FileNotFoundError:
                stack.pop()
                continue
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    continue  # swapped for a link or a file since: unlink it on the next round
                raise
            with contextlib.suppress(OSError):
                os.fchmod(fd, stat.S_IRWXU)  # a task may have made its folders read-only
            stack[-1] = (dir_fd, entry, fd, 1)
            stack.extend((fd, child, None, 0) for child in os.listdir(fd))
            continue
        children = os.listdir(opened)
        if children and rounds < _ROUNDS:  # filled again while we removed it
            stack[-1] = (dir_fd, entry, opened, rounds + 1)
            stack.extend((opened, child, None, 0) for child in children)
            continue
        os.close(opened)
        stack.pop()
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(entry, dir_fd=dir_fd)
