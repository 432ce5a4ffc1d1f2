"""Landlock (Linux 5.13+): which files a task may read or change, which TCP ports it may reach (ABI 4+), and that
it cannot signal or reach abstract sockets outside its own domain (ABI 6+). It applies to root as well.

Rules whose paths are the same for every job are opened once in the zygote (`prepare`), their O_PATH descriptors
kept above fd 255, so a child only hands them to the kernel.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import stat
from collections.abc import Iterable, Sequence
from typing import Any

from portal.execution.sandbox import kernel

_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
FS_EXECUTE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 2, 1 << 3
FS_READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
_FS_FILE_RIGHTS = FS_EXECUTE | (1 << 1) | FS_READ_FILE | (1 << 14)  # EXECUTE, WRITE_FILE, READ_FILE, TRUNCATE
FS_ALL = -1  # every right the kernel handles
_KEPT_FD_MIN = 256

_abi: int | None = None
# Bumped whenever `prepare` or `prepare_any_port_except` adds something: a child forked before that lacks it.
generation = 0
# (path, access) -> (rule, fd), opened once in the zygote and inherited by every child.
_prepared: dict[tuple[str, int], tuple[Any, int] | None] = {}
# Frozen sets of TCP ports a job may not reach -> a ruleset that allows every other port (65,000 rules: built once).
_except_rulesets: dict[frozenset[int], int] = {}


class _NetPortRule(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


def abi() -> int:
    """The kernel's Landlock ABI version, or 0 when it has none."""
    global _abi
    if _abi is None:
        try:
            _abi = max(kernel.syscall("landlock_create_ruleset", None, ctypes.c_size_t(0), ctypes.c_uint32(1)), 0)
        except OSError:
            _abi = 0
    return _abi


def handled_fs() -> int:
    """Every file system right this kernel's Landlock knows."""
    version = abi()
    handled = (1 << 13) - 1  # ABI 1: every right from EXECUTE to MAKE_SYM
    if version >= 2:
        handled |= 1 << 13  # REFER
    if version >= 3:
        handled |= 1 << 14  # TRUNCATE
    return handled


def _path_rule(path: str, access: int, keep: bool) -> tuple[Any, int] | None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return None  # a path this machine does not have
    if keep:
        kept = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _KEPT_FD_MIN)
        os.close(fd)
        fd = kept
    allowed = (handled_fs() if access == FS_ALL else access) & handled_fs()
    if not stat.S_ISDIR(os.fstat(fd).st_mode):
        allowed &= _FS_FILE_RIGHTS  # a rule on a file may only carry rights files have
    rule = (ctypes.c_uint8 * 12).from_buffer_copy(allowed.to_bytes(8, "little") + fd.to_bytes(4, "little", signed=True))
    return rule, fd


def _keys(rules: Iterable[Sequence[Any]]) -> list[tuple[str, int]]:
    return [(str(path), int(access)) for path, access in rules]


def prepare(rules: Iterable[Sequence[Any]]) -> None:
    """In the zygote, before forking: open the rules (path, access) every job shares, once."""
    global generation
    if abi() < 1:
        return
    for key in _keys(rules):
        if key not in _prepared:
            _prepared[key] = _path_rule(*key, keep=True)
            generation += 1


def _ruleset(handled_fs_rights: int, handled_net: int, scoped: int) -> int:
    attr = (ctypes.c_uint64 * 3)(handled_fs_rights, handled_net, scoped)
    size = 24 if scoped else 16 if handled_net else 8
    return kernel.syscall("landlock_create_ruleset", attr, ctypes.c_size_t(size), ctypes.c_uint32(0))


def _allow_ports(ruleset: int, ports: list[int]) -> None:
    rule = _NetPortRule(_NET_CONNECT_TCP, 0)
    for port in ports:
        rule.port = port
        kernel.syscall("landlock_add_rule", ruleset, _RULE_NET_PORT, ctypes.byref(rule), 0)


def prepare_any_port_except(blocked: list[int]) -> None:
    """In the zygote: the ruleset of jobs that may connect to every TCP port but `blocked` (ABI 4+)."""
    global generation
    key = frozenset(blocked)
    if abi() < 4 or key in _except_rulesets:
        return
    generation += 1
    ruleset = _ruleset(0, _NET_BIND_TCP | _NET_CONNECT_TCP, 0)
    _allow_ports(ruleset, [p for p in range(1, 65536) if p not in key])
    _except_rulesets[key] = fcntl.fcntl(ruleset, fcntl.F_DUPFD_CLOEXEC, _KEPT_FD_MIN)
    os.close(ruleset)


def restrict(
    *,
    prepared: Iterable[Sequence[Any]],
    paths: Iterable[Sequence[Any]],
    connect_ports: list[int] | None = None,
    any_port_except: list[int] | None = None,
) -> None:
    """Confine this process: files only as the rules allow (`prepared` ones from `prepare`, `paths` opened now),
    signals and abstract sockets only within its domain (ABI 6+), and, when given, TCP connections only to
    `connect_ports` or to any port but `any_port_except` (ABI 4+; no TCP port may be bound then).

    Needs no_new_privs (set by the caller). OSError when the kernel refuses or lacks what was asked.
    """
    version = abi()
    if version < 1:
        raise OSError(38, "this kernel has no Landlock")
    wants_net = connect_ports is not None or any_port_except is not None
    if wants_net and version < 4:
        raise OSError(38, f"Landlock ABI {version} cannot restrict TCP ports (ABI 4+ can)")
    scoped = _SCOPE_SIGNAL | _SCOPE_ABSTRACT_UNIX_SOCKET if version >= 6 else 0
    net = _NET_BIND_TCP | _NET_CONNECT_TCP if connect_ports is not None else 0
    ruleset = _ruleset(handled_fs(), net, scoped)
    opened: list[int] = []
    try:
        rules = [r for key in _keys(prepared) if (r := _prepared.get(key))]
        for key in _keys(paths):
            found = _path_rule(*key, keep=False)
            if found is not None:
                rules.append(found)
                opened.append(found[1])
        for rule, _fd in rules:
            kernel.syscall("landlock_add_rule", ruleset, _RULE_PATH_BENEATH, rule, 0)
        if connect_ports is not None:
            _allow_ports(ruleset, connect_ports)
        if any_port_except is not None:
            # Its own layer, prepared once: adding 65,000 rules for every job would take longer than most jobs.
            layer = _except_rulesets.get(frozenset(any_port_except))
            if layer is None:
                raise OSError(22, "the ruleset for this set of blocked ports was not prepared")
            kernel.syscall("landlock_restrict_self", layer, 0)
        kernel.syscall("landlock_restrict_self", ruleset, 0)
    finally:
        os.close(ruleset)
        for fd in opened:
            os.close(fd)
