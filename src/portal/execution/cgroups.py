"""Cgroups for jobs: a limit on the processes and on the memory of all of a job's processes together.

cgroup v2 where the pids and memory controllers are available to us, otherwise v1 (as root). Each runner keeps a
few cgroups of its own below `<parent>/portal-jobs/` and reuses them job after job (a job's processes are all
dead before its cgroup serves the next one); they are named `<pid>-<runner>-<n>`, so those of a process that died
are found and removed when the next one starts.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CONTROLLERS = ("pids", "memory")
_DIR = "portal-jobs"
# Memory a finished job may leave charged to its cgroup before the cgroup is retired rather than reused.
LINGERING_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Usage:
    """What a job's cgroup saw while it ran."""

    oom_kills: int = 0
    process_limit_hits: int = 0


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
    """The cgroups of one runner's jobs (`available` says whether there are any, and why not)."""

    _instances = itertools.count()

    def __init__(self) -> None:
        # `<pid>-<runner>-<n>`: the sweep knows a dead process's cgroups by the pid; a process may have several
        # runners (the CLI's `catalog run`, tests), each removing only its own.
        self._prefix = f"{os.getpid()}-{next(self._instances)}"
        self.version: str | None = None
        self.reason = ""
        self._parents: dict[str, Path] = {}  # controller -> the portal-jobs folder it lives in
        self._free: list[int] = []
        self._next = 0
        self._limits: dict[int, tuple[int, int]] = {}  # slot -> the (memory_mb, processes) last written
        self._counts: dict[int, tuple[int, int]] = {}  # slot -> (oom kills, refused forks) when its last job ended
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
        """Remove the job cgroups of runner processes that died, killing whatever still runs in them first (a job
        that outlived a crash cannot outlive this)."""
        for parent in set(self._parents.values()):
            for entry in parent.iterdir():
                owner = entry.name.partition("-")[0]
                if not (entry.is_dir() and owner.isdigit()) or _pid_alive(int(owner)):
                    continue
                for _ in range(50):
                    pids = [int(p) for p in _read(entry / "cgroup.procs").split() if p.isdigit()]
                    for pid in pids:
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.kill(pid, signal.SIGKILL)
                    try:
                        entry.rmdir()
                        break
                    except OSError:
                        time.sleep(0.02)  # the killed processes are still leaving it

    def _write(self, controller: str, slot: int, name: str, value: str) -> None:
        (self._parents[controller] / f"{self._prefix}-{slot}" / name).write_text(value)

    def lease(self, memory_mb: int, processes: int) -> CgroupLease:
        """A cgroup for one job with its limits set; `procs` are the files its first process joins it by.

        Cgroups are reused job after job: a limit is written only when it differs from the last job's, and the
        counters read at the end of one job are where the next one starts from. A cgroup whose limit cannot be
        lowered (memory still charged to it: EBUSY) is retired and a fresh one made."""
        try:
            return self._lease(memory_mb, processes)
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            return self._lease(memory_mb, processes, fresh=True)

    def _lease(self, memory_mb: int, processes: int, fresh: bool = False) -> CgroupLease:
        with self._lock:
            slot = self._free.pop() if self._free and not fresh else self._next
            if slot == self._next:
                self._next += 1
        folders = {c: self._parents[c] / f"{self._prefix}-{slot}" for c in CONTROLLERS}
        try:
            if slot not in self._limits:
                for folder in set(folders.values()):
                    folder.mkdir(exist_ok=True)
            if self._limits.get(slot) != (memory_mb, processes):
                self._set_limits(slot, folders, memory_mb, processes)
                self._limits[slot] = (memory_mb, processes)
            lease = CgroupLease(self, slot, folders, self._counts.get(slot))
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                self._retire(slot)
            else:
                self._limits.pop(slot, None)
                self._give_back(slot)
            raise
        return lease

    def _set_limits(self, slot: int, folders: dict[str, Path], memory_mb: int, processes: int) -> None:
        memory = str(memory_mb * 1024 * 1024)
        self._write("pids", slot, "pids.max", str(processes))
        if self.version == "v2":
            self._write("memory", slot, "memory.max", memory)
            with contextlib.suppress(FileNotFoundError):
                self._write("memory", slot, "memory.swap.max", "0")
            return
        swap = folders["memory"] / "memory.memsw.limit_in_bytes"
        if swap.exists():
            swap.write_text("-1")  # the swap limit may never be below the memory limit
        self._write("memory", slot, "memory.limit_in_bytes", memory)
        if swap.exists():
            swap.write_text(memory)
        # v1 leaves the kernel memory of TCP buffers out of the memory limit unless it has a limit of its own
        # (v2 counts all socket memory in memory.max; v1 cannot count UDP at all: see isolation.Isolation).
        with contextlib.suppress(FileNotFoundError):
            self._write("memory", slot, "memory.kmem.tcp.limit_in_bytes", memory)

    def lingering(self, folders: dict[str, Path]) -> int:
        """Bytes still charged to a cgroup whose processes are all gone that reclaim cannot free (memory held by
        something that outlived them, such as a file descriptor in flight in a Unix socket cycle)."""
        stat = _read(folders["memory"] / "memory.stat")
        if self.version == "v2":
            return sum(_field(stat, name) for name in ("anon", "shmem", "sock"))
        tcp = _read(folders["memory"] / "memory.kmem.tcp.usage_in_bytes").strip()
        return _field(stat, "total_rss") + _field(stat, "total_shmem") + (int(tcp) if tcp.isdigit() else 0)

    def _give_back(self, slot: int, counts: tuple[int, int] | None = None) -> None:
        with self._lock:
            if counts is not None:
                self._counts[slot] = counts
            self._free.append(slot)

    def _retire(self, slot: int) -> None:
        """A slot whose job's processes may not all be gone: never used again (removed with the others)."""
        with self._lock:
            self._limits.pop(slot, None)

    def close(self) -> None:
        """Remove this process's job cgroups (their jobs have ended)."""
        with self._lock:
            slots = range(self._next)
            self._free, self._next = [], 0
            self._limits.clear()
            self._counts.clear()
        for slot in slots:
            for parent in set(self._parents.values()):
                with contextlib.suppress(OSError):
                    (parent / f"{self._prefix}-{slot}").rmdir()


class CgroupLease:
    """One job's cgroup: the files its first process writes itself into, and what it saw at the end."""

    def __init__(self, owner: JobCgroups, slot: int, folders: dict[str, Path], before: tuple[int, int] | None) -> None:
        self._owner, self._slot, self._folders = owner, slot, folders
        self.procs = [str(folder / "cgroup.procs") for folder in sorted(set(folders.values()))]
        self._before = before if before is not None else self._counts()

    def _counts(self) -> tuple[int, int]:
        pids = _field(_read(self._folders["pids"] / "pids.events"), "max")
        events = "memory.events" if self._owner.version == "v2" else "memory.oom_control"
        return _field(_read(self._folders["memory"] / events), "oom_kill"), pids

    def finish(self, clean: bool = True) -> Usage:
        """What happened during the job. With `clean` (every process of the job is gone, and nothing of it keeps
        memory charged to the cgroup) the cgroup serves the next job; otherwise it is retired."""
        oom, pids = self._counts()
        if clean and self._owner.lingering(self._folders) > LINGERING_BYTES:
            clean = False
        if clean:
            self._owner._give_back(self._slot, (oom, pids))
        else:
            self._owner._retire(self._slot)
        return Usage(oom_kills=oom - self._before[0], process_limit_hits=pids - self._before[1])
