"""A seccomp filter that refuses the system calls a task has no business making.

Built once in the zygote (`filter_program`, `Loaded`), installed by each child. It is a deny list: anything not
named here is allowed, so ordinary Python, subprocesses, threads and sockets work as before. Refused calls fail
with EPERM (EAFNOSUPPORT for socket families, EPROTONOSUPPORT for IP protocols other than TCP, UDP and ping,
ENOSYS for clone3 so that libc falls back to clone, whose flags a filter can read). A foreign architecture (a
32-bit or x32 call on x86_64) is refused too, so the filter cannot be stepped around with another system call
table. docs/architecture.md ("The job sandbox") says why each group is refused.
"""

from __future__ import annotations

import ctypes
import struct

from portal.execution.sandbox import kernel

# Grouped by why they are refused. Names missing from an architecture's table are skipped.
DENIED = {
    "reboot and the kernel itself": ["reboot", "kexec_load", "kexec_file_load", "init_module", "finit_module",
                                     "delete_module", "create_module", "get_kernel_syms", "query_module",
                                     "uselib", "syslog", "acct", "swapon", "swapoff", "vhangup", "nfsservctl",
                                     "iopl", "ioperm", "modify_ldt", "lookup_dcookie"],
    "mounts and namespaces": ["mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "fsopen", "fsconfig",
                              "fsmount", "fspick", "move_mount", "open_tree", "open_tree_attr", "mount_setattr",
                              "quotactl", "quotactl_fd"],
    "kernel attack surface": ["bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
                              "io_uring_register", "keyctl", "add_key", "request_key", "fanotify_init",
                              "open_by_handle_at", "name_to_handle_at"],
    "other processes": ["ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd", "kcmp",
                        "migrate_pages", "move_pages"],
    "the clock and the host's names": ["settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
                                       "sethostname", "setdomainname"],
}  # fmt: skip

TABLES = {
    "x86_64": {
        "reboot": 169, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
        "delete_module": 176, "create_module": 174, "get_kernel_syms": 177, "query_module": 178, "uselib": 134,
        "syslog": 103, "acct": 163, "swapon": 167, "swapoff": 168, "vhangup": 153, "nfsservctl": 180, "iopl": 172,
        "ioperm": 173, "modify_ldt": 154, "lookup_dcookie": 212, "mount": 165, "umount2": 166, "pivot_root": 155,
        "chroot": 161, "unshare": 272, "setns": 308, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "move_mount": 429, "open_tree": 428, "mount_setattr": 442, "quotactl": 179, "quotactl_fd": 443, "bpf": 321,
        "perf_event_open": 298, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "keyctl": 250, "add_key": 248, "request_key": 249, "fanotify_init": 300,
        "open_by_handle_at": 304, "name_to_handle_at": 303, "ptrace": 101, "process_vm_readv": 310,
        "process_vm_writev": 311, "process_madvise": 440, "pidfd_getfd": 438, "kcmp": 312, "migrate_pages": 256,
        "move_pages": 279, "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159,
        "sethostname": 170, "setdomainname": 171, "open_tree_attr": 467,
        "socket": 41, "clone": 56, "clone3": 435, "ioctl": 16, "fcntl": 72, "inotify_init": 253,
        "inotify_init1": 294,
    },
    "aarch64": {
        "reboot": 142, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
        "delete_module": 106, "syslog": 116, "acct": 89, "swapon": 224, "swapoff": 225, "vhangup": 58,
        "nfsservctl": 42, "lookup_dcookie": 18, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
        "unshare": 97, "setns": 268, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "move_mount": 429, "open_tree": 428, "mount_setattr": 442, "quotactl": 60, "quotactl_fd": 443, "bpf": 280,
        "perf_event_open": 241, "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "keyctl": 219, "add_key": 217, "request_key": 218, "fanotify_init": 262,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "ptrace": 117, "process_vm_readv": 270,
        "process_vm_writev": 271, "process_madvise": 440, "pidfd_getfd": 438, "kcmp": 272, "migrate_pages": 238,
        "move_pages": 239, "settimeofday": 170, "clock_settime": 112, "clock_adjtime": 266, "adjtimex": 171,
        "sethostname": 161, "setdomainname": 162, "open_tree_attr": 467,
        "socket": 198, "clone": 220, "clone3": 435, "ioctl": 29, "fcntl": 25, "inotify_init1": 26,
    },
}  # fmt: skip
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# Calls numbered above this are newer than this table: refused with ENOSYS, which libc treats as "not here".
_HIGHEST_KNOWN = 470
_X32_SYSCALL_BIT = 0x40000000

_AF_UNIX, _AF_INET, _AF_INET6 = 1, 2, 10
_SOCK_STREAM, _SOCK_DGRAM = 1, 2
# The protocols an IP socket may have: TCP and UDP (0 is their default), and ICMP for ping sockets. Not MPTCP
# (262), whose connections Landlock's TCP port rules do not see, nor SCTP, DCCP, UDP-Lite and the like.
_STREAM_PROTOCOLS = (0, 6)
_DGRAM_PROTOCOLS = (0, 17, 1, 58)
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C
_F_SETPIPE_SZ = 1031
# Counted per user by the kernel: refused when jobs share the portal's uid (unprivileged), so that no job can
# use up what the portal and the other jobs need (inotify instances; pipe pages, through F_SETPIPE_SZ).
SHARED_UID_DENIED = ["inotify_init", "inotify_init1"]
_EPERM, _ENOSYS, _EPROTONOSUPPORT, _EAFNOSUPPORT = 1, 38, 93, 97

_LD_W_ABS, _ALU_AND_K = 0x20, 0x54
_JEQ, _JGE, _JSET, _RET = 0x15, 0x35, 0x45, 0x06
_RET_ALLOW, _RET_ERRNO, _RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000
_NR, _ARCH_OFFSET = 0, 4


def _arg(index: int) -> int:
    return 16 + 8 * index  # the low 32 bits of args[index] (little-endian)


class _Program:
    """A straight-line classic BPF program; jumps are given as labels and resolved at the end."""

    def __init__(self) -> None:
        self.code: list[tuple[int, str | int, str | int, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int, jt: str | int = 0, jf: str | int = 0) -> None:
        self.code.append((code, jt, jf, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def assemble(self) -> bytes:
        out = b""
        for index, (code, jt, jf, k) in enumerate(self.code):
            offsets = [self.labels[j] - index - 1 if isinstance(j, str) else j for j in (jt, jf)]
            if not all(0 <= o <= 255 for o in offsets):
                raise ValueError("seccomp filter jump out of range")
            out += struct.pack("=HBBI", code, offsets[0], offsets[1], k & 0xFFFFFFFF)
        return out


def filter_program(arch: str = kernel.ARCH, *, datagrams: bool = True, shared_uid: bool = False) -> bytes | None:
    """The filter for `arch`, or None when the sandbox has no table for it.

    `datagrams`: IP datagram sockets (UDP, ping) are allowed; jobs without network do without (they only have
    their own loopback, and cgroup v1 counts no UDP buffer memory). `shared_uid`: jobs run as the portal's own
    uid, so what the kernel counts per user is refused (SHARED_UID_DENIED, F_SETPIPE_SZ)."""
    table = TABLES.get(arch)
    if table is None:
        return None
    names = [name for group in DENIED.values() for name in group] + (SHARED_UID_DENIED if shared_uid else [])
    denied = sorted({table[name] for name in names if name in table})
    p = _Program()
    p.op(_LD_W_ABS, _ARCH_OFFSET)
    p.op(_JEQ, _AUDIT_ARCH[arch], 0, "kill")
    p.op(_LD_W_ABS, _NR)
    if arch == "x86_64":
        p.op(_JGE, _X32_SYSCALL_BIT, "eperm", 0)
    p.op(_JGE, _HIGHEST_KNOWN + 1, "enosys", 0)
    for number in denied:
        p.op(_JEQ, number, "eperm", 0)
    p.op(_JEQ, table["socket"], "socket", 0)
    p.op(_JEQ, table["clone"], "clone", 0)
    p.op(_JEQ, table["clone3"], "enosys", 0)
    p.op(_JEQ, table["ioctl"], "ioctl", 0)
    if shared_uid:
        p.op(_JEQ, table["fcntl"], "fcntl", 0)
    p.op(_RET, _RET_ALLOW)
    # socket(family, type, protocol): Unix, IPv4 and IPv6 only; IP sockets as TCP, UDP or ping only.
    p.label("socket")
    p.op(_LD_W_ABS, _arg(0))
    p.op(_JEQ, _AF_UNIX, "allow", 0)
    p.op(_JEQ, _AF_INET, "socket_type", 0)
    p.op(_JEQ, _AF_INET6, "socket_type", 0)
    p.op(_RET, _RET_ERRNO | _EAFNOSUPPORT)
    p.label("socket_type")
    p.op(_LD_W_ABS, _arg(1))
    p.op(_ALU_AND_K, 0xF)  # the type without SOCK_NONBLOCK and SOCK_CLOEXEC
    p.op(_JEQ, _SOCK_STREAM, "stream", 0)
    p.op(_JEQ, _SOCK_DGRAM, "dgram" if datagrams else "eperm", "eperm")
    p.label("stream")
    p.op(_LD_W_ABS, _arg(2))
    for protocol in _STREAM_PROTOCOLS:
        p.op(_JEQ, protocol, "allow", 0)
    p.op(_RET, _RET_ERRNO | _EPROTONOSUPPORT)
    p.label("dgram")
    p.op(_LD_W_ABS, _arg(2))
    for protocol in _DGRAM_PROTOCOLS:
        p.op(_JEQ, protocol, "allow", 0)
    p.op(_RET, _RET_ERRNO | _EPROTONOSUPPORT)
    # clone(flags, ...): threads and processes, but no new namespaces.
    p.label("clone")
    p.op(_LD_W_ABS, _arg(0))
    p.op(_JSET, kernel.NAMESPACE_FLAGS, "eperm", "allow")
    # ioctl(fd, request, ...): no typing into a terminal (TIOCSTI, TIOCLINUX).
    p.label("ioctl")
    p.op(_LD_W_ABS, _arg(1))
    p.op(_JEQ, _TIOCSTI, "eperm", 0)
    p.op(_JEQ, _TIOCLINUX, "eperm", "allow")
    if shared_uid:
        # fcntl(fd, cmd, ...): no pipe grown past its default size out of the pages the user shares.
        p.label("fcntl")
        p.op(_LD_W_ABS, _arg(1))
        p.op(_JEQ, _F_SETPIPE_SZ, "eperm", "allow")
    p.label("allow")
    p.op(_RET, _RET_ALLOW)
    p.label("eperm")
    p.op(_RET, _RET_ERRNO | _EPERM)
    p.label("enosys")
    p.op(_RET, _RET_ERRNO | _ENOSYS)
    p.label("kill")
    p.op(_RET, _RET_KILL_PROCESS)
    return p.assemble()


class _FilterProgram(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Loaded:
    """A filter ready to install: its buffer and descriptor made once (in the zygote), not in every child."""

    def __init__(self, program: bytes) -> None:
        self._buffer = ctypes.create_string_buffer(program, len(program))
        self._fprog = _FilterProgram(len(program) // 8, ctypes.cast(self._buffer, ctypes.c_void_p))

    def install(self) -> None:
        """Install the filter on this process (and everything it starts). Needs no_new_privs, set by the caller."""
        kernel.prctl(kernel.PR_SET_SECCOMP, kernel.SECCOMP_MODE_FILTER, ctypes.addressof(self._fprog))
