"""File-system helpers every layer may use."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ROUNDS = 10  # a folder that something keeps filling is listed again at most this often


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
