"""Scratch directories on the host, for jobs that run without a private file system view, and their safe removal.

Each runner process owns a folder `<scratch>/<pid>-<random>/` held by a lock, so a new process can tell the folders
of processes that died (their lock is free) from live ones and remove them. Removal works through directory
descriptors and never follows a link: a task that swaps a directory for a symlink to somewhere else cannot make
the portal delete or change anything outside the scratch directory.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import tempfile
from pathlib import Path

from portal.fs import remove_tree

_LOCK = ".owner"


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
