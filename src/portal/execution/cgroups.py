"""Cgroups for jobs: a limit on the processes and on the memory of all of a job's processes together.

cgroup v2 where the pids and memory controllers are available to us, otherwise v1 (as root). Each runner process
keeps a few cgroups of its own below `<parent>/portal-jobs/` and reuses them job after job (a job's processes are
all dead before its cgroup serves the next one); they are named `<pid>-<n>`, so those of a process that died are
found and removed when the next one starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CONTROLLERS = ("pids", "memory")
_DIR = "portal-jobs"


@dataclass(frozen=True)
class Usage:
    """What a job's cgroup saw while it ran."""

    oom_kills: int = 0
    process_limit_hits: int = 0
    memory_peak_bytes: int | None = None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _field(text: str, name: str) -> int:
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == name:
            with contextlib.suppress(ValueError):
                return int(value)
    return 0


def _mounts() -> tuple[Path | None, dict[str, Path]]:
    """The cgroup v2 mount, and the v1 mount of each controller we use."""
    v2: Path | None = None
    v1: dict[str, Path] = {}
    for line in _read(Path("/proc/self/mountinfo")).splitlines():
        left, _, right = line.partition(" - ")
        fields, extra = left.split(), right.split()
        if len(fields) < 5 or len(extra) < 3:
            continue
        if extra[0] == "cgroup2" and v2 is None:
            v2 = Path(fields[4])
        elif extra[0] == "cgroup":
            for controller in CONTROLLERS:
                if controller in extra[2].split(","):
                    v1.setdefault(controller, Path(fields[4]))
    return v2, v1


def _own_paths() -> tuple[str | None, dict[str, str]]:
    """This process's cgroup: its v2 path, and its v1 path per controller."""
    v2: str | None = None
    v1: dict[str, str] = {}
    for line in _read(Path("/proc/self/cgroup")).splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            v2 = path
        for controller in controllers.split(","):
            if controller in CONTROLLERS:
                v1[controller] = path
    return v2, v1


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobCgroups:
    """The cgroups of one runner process's jobs (`available` says whether there are any, and why not)."""

    def __init__(self) -> None:
        self.version: str | None = None
        self.reason = ""
        self._parents: dict[str, Path] = {}  # controller -> the portal-jobs folder it lives in
        self._free: list[int] = []
        self._next = 0
        self._lock = threading.Lock()
        try:
            self._discover()
        except OSError as exc:
            self.version, self._parents = None, {}
            self.reason = f"cannot create cgroups: {exc.strerror or exc}"

    @property
    def available(self) -> bool:
        return self.version is not None

    def _discover(self) -> None:
        v2_mount, v1_mounts = _mounts()
        v2_own, v1_own = _own_paths()
        if v2_mount is not None and v2_own is not None:
            found = self._v2_parent(v2_mount / v2_own.lstrip("/"))
            if found is not None:
                self.version, self._parents = "v2", dict.fromkeys(CONTROLLERS, found)
                self._sweep()
                return
        missing = [c for c in CONTROLLERS if c not in v1_mounts or c not in v1_own]
        if missing:
            self.reason = f"no {' or '.join(missing)} controller is available to this process"
            return
        if os.geteuid() != 0:
            self.reason = "cgroup v1 needs root, and cgroup v2 has no delegated pids and memory controllers here"
            return
        parents = {c: v1_mounts[c] / v1_own[c].lstrip("/") / _DIR for c in CONTROLLERS}
        for parent in parents.values():
            parent.mkdir(exist_ok=True)
        self.version, self._parents = "v1", parents
        self._sweep()

    @staticmethod
    def _v2_parent(own: Path) -> Path | None:
        """A folder for job cgroups with pids and memory enabled below it: next to our own cgroup (a cgroup with
        processes cannot give controllers to its children), or below it when that is allowed."""
        for base in (own.parent, own):
            controllers = _read(base / "cgroup.subtree_control").split()
            if not all(c in controllers for c in CONTROLLERS):
                continue
            folder = base / _DIR
            try:
                folder.mkdir(exist_ok=True)
                (folder / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in CONTROLLERS))
            except OSError:
                continue
            return folder
        return None

    def _sweep(self) -> None:
        """Remove the job cgroups of runner processes that died."""
        for parent in set(self._parents.values()):
            for entry in parent.iterdir():
                owner = entry.name.partition("-")[0]
                if entry.is_dir() and owner.isdigit() and not _pid_alive(int(owner)):
                    with contextlib.suppress(OSError):
                        entry.rmdir()

    def _write(self, controller: str, slot: int, name: str, value: str) -> None:
        (self._parents[controller] / f"{os.getpid()}-{slot}" / name).write_text(value)

    def lease(self, memory_mb: int, processes: int) -> CgroupLease:
        """A cgroup for one job with its limits set; `procs` are the files its first process joins it by."""
        with self._lock:
            slot = self._free.pop() if self._free else self._next
            if slot == self._next:
                self._next += 1
        try:
            folders = {c: self._parents[c] / f"{os.getpid()}-{slot}" for c in CONTROLLERS}
            for folder in set(folders.values()):
                folder.mkdir(exist_ok=True)
            memory = str(memory_mb * 1024 * 1024)
            self._write("pids", slot, "pids.max", str(processes))
            if self.version == "v2":
                self._write("memory", slot, "memory.max", memory)
                with contextlib.suppress(FileNotFoundError):
                    self._write("memory", slot, "memory.swap.max", "0")
            else:
                swap = folders["memory"] / "memory.memsw.limit_in_bytes"
                if swap.exists():
                    swap.write_text("-1")  # the swap limit may never be below the memory limit
                self._write("memory", slot, "memory.limit_in_bytes", memory)
                if swap.exists():
                    swap.write_text(memory)
                with contextlib.suppress(OSError):
                    self._write("memory", slot, "memory.max_usage_in_bytes", "0")
        except OSError:
            self._give_back(slot)
            raise
        return CgroupLease(self, slot, folders)

    def _give_back(self, slot: int) -> None:
        with self._lock:
            self._free.append(slot)

    def close(self) -> None:
        """Remove this process's job cgroups (their jobs have ended)."""
        with self._lock:
            slots = range(self._next)
            self._free, self._next = [], 0
        for slot in slots:
            for parent in set(self._parents.values()):
                with contextlib.suppress(OSError):
                    (parent / f"{os.getpid()}-{slot}").rmdir()


class CgroupLease:
    """One job's cgroup: the files its first process writes itself into, and what it saw at the end."""

    def __init__(self, owner: JobCgroups, slot: int, folders: dict[str, Path]) -> None:
        self._owner, self._slot, self._folders = owner, slot, folders
        self.procs = [str(folder / "cgroup.procs") for folder in sorted(set(folders.values()))]
        self._before = self._counts()

    def _counts(self) -> tuple[int, int]:
        pids = _field(_read(self._folders["pids"] / "pids.events"), "max")
        memory = self._folders["memory"]
        events = "memory.events" if self._owner.version == "v2" else "memory.oom_control"
        return _field(_read(memory / events), "oom_kill"), pids

    def finish(self) -> Usage:
        """What happened during the job; the cgroup goes back to the pool (the job's processes are all dead)."""
        oom, pids = self._counts()
        peak_file = "memory.peak" if self._owner.version == "v2" else "memory.max_usage_in_bytes"
        peak_text = _read(self._folders["memory"] / peak_file).strip()
        self._owner._give_back(self._slot)
        return Usage(
            oom_kills=oom - self._before[0],
            process_limit_hits=pids - self._before[1],
            memory_peak_bytes=int(peak_text) if peak_text.isdigit() else None,
        )
