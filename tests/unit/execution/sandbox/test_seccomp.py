"""The seccomp filter: its system call tables agree with the kernel's headers, and it refuses what it says it does
while ordinary work goes on."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from portal.execution.sandbox import kernel, seccomp
from tests.services import unavailable

HEADERS = {
    "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    "aarch64": Path("/usr/include/asm-generic/unistd.h"),
}


def header_numbers(path: Path) -> dict[str, int]:
    return {
        m.group(1): int(m.group(2)) for m in re.finditer(r"#define __NR(?:3264)?_(\w+)\s+(\d+)\b", path.read_text())
    }


@pytest.mark.parametrize("arch", sorted(seccomp.TABLES))
def test_the_tables_match_the_kernel_headers(arch: str) -> None:
    if not HEADERS[arch].is_file():
        unavailable(f"no kernel headers for {arch} here ({HEADERS[arch]}; Debian's linux-libc-dev has them)")
    known = header_numbers(HEADERS[arch])
    table = seccomp.TABLES[arch]
    checked = {name: number for name, number in table.items() if name in known}
    assert {name: known[name] for name in checked} == checked
    # Every name is either in the headers or a call of another architecture (skipped by the filter there).
    # Names the headers lack: calls of another architecture, or newer than the headers (open_tree_attr, 6.15).
    assert set(table) - set(known) <= {
        "create_module",
        "get_kernel_syms",
        "query_module",
        "uselib",
        "nfsservctl",
        "iopl",
        "ioperm",
        "modify_ldt",
        "open_tree_attr",
    }, sorted(set(table) - set(known))
    assert all(name in table for names in seccomp.DENIED.values() for name in names if name in known)


def attempts() -> dict[str, Any]:
    """In a child with the filter installed: what each attempt gave ("allowed" or an errno name)."""
    import errno

    def outcome(action: Any) -> str:
        try:
            action()
        except OSError as exc:
            return errno.errorcode.get(exc.errno or 0, str(exc.errno))
        return "allowed"

    def libc(name: str, *args: Any) -> Any:
        def call() -> None:
            kernel._check(getattr(kernel.LIBC, name)(*args), name)

        return call

    def pair() -> None:
        for end in socket.socketpair():
            end.close()

    def thread() -> None:
        worker = threading.Thread(target=lambda: None)
        worker.start()
        worker.join()

    return {
        "reboot": outcome(libc("reboot", 0)),
        "mount": outcome(libc("mount", b"none", b"/tmp", b"tmpfs", 0, None)),
        "unshare": outcome(libc("unshare", kernel.CLONE_NEWUSER)),
        "ptrace": outcome(libc("ptrace", 16, os.getppid(), None, None)),
        "packet": outcome(lambda: socket.socket(17, socket.SOCK_RAW, 0).close()),
        "raw": outcome(lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()),
        "netlink": outcome(lambda: socket.socket(16, socket.SOCK_RAW, 0).close()),
        "tcp": outcome(lambda: socket.socket().close()),
        "udp": outcome(lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC).close()),
        "mptcp": outcome(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262).close()),
        "sctp": outcome(lambda: socket.socket(socket.AF_INET, socket.SOCK_SEQPACKET, 132).close()),
        "udplite": outcome(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM, 136).close()),
        "unix pair": outcome(pair),
        "subprocess": outcome(lambda: subprocess.run(["true"], check=True)),
        "thread": outcome(thread),
    }


def test_the_filter_refuses_what_it_says_and_lets_ordinary_work_go_on() -> None:
    program = seccomp.filter_program()
    assert program is not None, f"no table for {kernel.ARCH}"
    loaded = seccomp.Loaded(program)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read)
            kernel.prctl(kernel.PR_SET_NO_NEW_PRIVS, 1)
            loaded.install()
            os.write(write, repr(attempts()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    seen = eval(os.read(read, 65536).decode())  # noqa: S307 (our own child's repr of a dict of strings)
    os.close(read)
    os.waitpid(pid, 0)
    assert seen == {
        "reboot": "EPERM",
        "mount": "EPERM",
        "unshare": "EPERM",
        "ptrace": "EPERM",
        "packet": "EAFNOSUPPORT",
        "raw": "EPERM",
        "netlink": "EAFNOSUPPORT",
        "tcp": "allowed",
        "udp": "allowed",
        "mptcp": "EPROTONOSUPPORT",  # Landlock's TCP port rules do not see MPTCP connections
        "sctp": "EPERM",
        "udplite": "EPROTONOSUPPORT",
        "unix pair": "allowed",
        "subprocess": "allowed",
        "thread": "allowed",
    }
