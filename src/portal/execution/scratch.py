"""Scratch directories on the host, for jobs that run without a private file system view, and their safe removal.

Each runner process owns a folder `<scratch>/<pid>-<random>/` held by a lock, so a new process can tell the folders
of processes that died (their lock is free) from live ones and remove them. Removal works through directory
descriptors and never follows a link: a task that swaps a directory for a symlink to somewhere else cannot make
the portal delete or change anything outside the scratch directory.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import stat
import tempfile
from pathlib import Path

_LOCK = ".owner"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


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


_ROUNDS = 10  # a folder that something keeps filling is listed again at most this often


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


class ScratchSpace:
    """This process's folder of job scratch directories; folders of dead processes are removed on creation."""

    def __init__(self, root: Path) -> None:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root = root
        self.sweep()
        name = f"{os.getpid()}-{secrets.token_hex(4)}"
        # Made under a hidden name and locked before it gets its real one: a sweep never sees it unlocked.
        making = root / f".{name}"
        making.mkdir(mode=0o700)
        self._lock = os.open(making / _LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.folder = root / name
        making.rename(self.folder)

    def sweep(self) -> list[Path]:
        """Remove the folders (and what their jobs left) of runner processes that are gone."""
        removed: list[Path] = []
        for entry in self.root.iterdir():
            if entry.is_symlink() or not entry.is_dir() or entry.name.startswith("."):
                continue
            try:
                lock = os.open(entry / _LOCK, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                lock = None  # a folder from before locks existed, or one whose owner died while making it
            except OSError:
                continue
            try:
                if lock is not None:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live runner's
            finally:
                if lock is not None:
                    os.close(lock)
            remove_tree(entry)
            removed.append(entry)
        return removed

    def new_dir(self, job_id: int) -> Path:
        return Path(tempfile.mkdtemp(dir=self.folder, prefix=f"job-{job_id}-"))

    def close(self) -> None:
        os.close(self._lock)
        remove_tree(self.folder)
