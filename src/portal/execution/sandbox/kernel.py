"""Thin, checked wrappers of the system calls the sandbox needs that Python 3.11's `os` does not offer."""

from __future__ import annotations

import ctypes
import os
import platform
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NAMESPACE_FLAGS = (
    CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
)

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
_READ_ONLY_ATTRS = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV
_AT_FDCWD, _AT_EMPTY_PATH, _AT_RECURSIVE = -100, 0x1000, 0x8000
_OPEN_TREE_CLONE, _OPEN_TREE_CLOEXEC = 1, 0o2000000
_MOVE_MOUNT_F_EMPTY_PATH = 0x4

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

# The few system calls without a libc wrapper that every glibc has, per architecture.
_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "capset": 126, "open_tree": 428, "move_mount": 429, "mount_setattr": 442,
               "landlock_create_ruleset": 444, "landlock_add_rule": 445, "landlock_restrict_self": 446},
    "aarch64": {"pivot_root": 41, "capset": 91, "open_tree": 428, "move_mount": 429, "mount_setattr": 442,
                "landlock_create_ruleset": 444, "landlock_add_rule": 445, "landlock_restrict_self": 446},
}  # fmt: skip
ARCH = platform.machine()
SYSCALLS = _SYSCALLS.get(ARCH, {})

try:
    LIBC: Any = ctypes.CDLL(None, use_errno=True)  # loaded once in the zygote, not in every child
    LIBC.syscall.restype = ctypes.c_long
except OSError:  # pragma: no cover - not Linux
    LIBC = None


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def syscall(name: str, *args: Any) -> int:
    """A raw system call by name; OSError when it fails or this architecture is not known."""
    number = SYSCALLS.get(name)
    if number is None or LIBC is None:
        raise OSError(38, f"{name} is not known on {ARCH}")
    return _check(int(LIBC.syscall(number, *args)), name)


def unshare(flags: int) -> None:
    _check(LIBC.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(LIBC.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        LIBC.mount(
            source.encode() if source is not None else None,
            target.encode(),
            fstype.encode() if fstype is not None else None,
            ctypes.c_ulong(flags),
            data.encode() if data is not None else None,
        ),
        f"mount {target}",
    )


def bind_read_only(source: str, target: str, recursive: bool = False) -> None:
    """Bind `source` onto `target` (with the mounts below it when `recursive`), then make those mounts read-only,
    without set-uid programs and devices: every one of them, not only the top one."""
    mount(source, target, None, MS_BIND | (MS_REC if recursive else 0))
    if recursive:
        attr = (ctypes.c_uint64 * 4)(_READ_ONLY_ATTRS, 0, 0, 0)
        try:
            syscall(
                "mount_setattr", ctypes.c_int(_AT_FDCWD), target.encode(), ctypes.c_uint(_AT_RECURSIVE), attr,
                ctypes.c_size_t(32),
            )  # fmt: skip
            return
        except OSError as exc:
            if exc.errno != 38:  # ENOSYS: a kernel older than 5.12 makes the top mount read-only only
                raise
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def detached_read_only_copy(source: str) -> int:
    """A mount of `source` not attached anywhere yet (it can be moved into another mount namespace), read-only,
    without set-uid programs and devices; its descriptor."""
    fd = syscall(
        "open_tree", ctypes.c_int(_AT_FDCWD), source.encode(), ctypes.c_uint(_OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC)
    )
    try:
        attr = (ctypes.c_uint64 * 4)(_READ_ONLY_ATTRS, 0, 0, 0)
        syscall("mount_setattr", ctypes.c_int(fd), b"", ctypes.c_uint(_AT_EMPTY_PATH), attr, ctypes.c_size_t(32))
    except BaseException:
        os.close(fd)
        raise
    return fd


def attach(fd: int, target: str) -> None:
    """Attach a detached mount (`detached_read_only_copy`) at `target` of this mount namespace."""
    try:
        syscall(
            "move_mount", ctypes.c_int(fd), b"", ctypes.c_int(_AT_FDCWD), target.encode(),
            ctypes.c_uint(_MOVE_MOUNT_F_EMPTY_PATH),
        )  # fmt: skip
    finally:
        os.close(fd)


def umount_detach(target: str) -> None:
    _check(LIBC.umount2(target.encode(), ctypes.c_int(MNT_DETACH)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    syscall("pivot_root", new_root.encode(), put_old.encode())


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(
        LIBC.prctl(
            ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(arg4), ctypes.c_ulong(arg5)
        ),
        f"prctl {option}",
    )


def last_capability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return 40


def drop_bounding_set() -> None:
    """Drop every capability from the bounding set (needs CAP_SETPCAP: call before giving up root)."""
    for cap in range(last_capability() + 1):
        prctl(PR_CAPBSET_DROP, cap)


def clear_capabilities() -> None:
    """Empty the effective, permitted and inheritable sets, and the ambient one."""
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # two {effective, permitted, inheritable} words, all zero
    syscall("capset", header, data)


def write_file(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
