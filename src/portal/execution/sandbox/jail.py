"""Each job's own namespaces, its private view of the file system, and the loss of every privilege.

The zygote builds a template root once (`build_template`): a read-only tmpfs holding bind mounts of the system
folders, the interpreter and a few devices, and empty places for the job's bundle (`/job/bundle`), its scratch space
(`/job/scratch`) and its `/proc`; and a mount namespace whose root it is (`template_namespace`). Each child
(`enter`) then takes a copy of that namespace and mounts its bundle read-only, a size-limited tmpfs as its scratch
space and a `/proc` of its own PID namespace. The host's tree is never in its view: not the portal's data
directory, not other jobs, not the Unix sockets of PostgreSQL or Redis, not home directories.

When the portal runs as root, the job then becomes a uid of its own (`setresuid`); otherwise the zygote lives in a
user namespace where the portal's uid is root, and each job enters a user namespace of its own where it is the
portal's uid again. Either way every capability is gone afterwards.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import socket
import struct
from typing import Any

from portal.execution.sandbox import kernel

# Set in the zygote when it gave up its bounding set (as root): every child inherits the empty set then.
bounding_set_dropped = False
JOB_BUNDLE = "/job/bundle"
JOB_SCRATCH = "/job/scratch"
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_STATUS_CAPS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


def enter_user_namespace() -> None:
    """Unprivileged zygote: become root of a new user namespace (only the portal's own uid and gid are mapped),
    with a PID namespace for the children and a mount namespace for the template."""
    uid, gid = os.getuid(), os.getgid()
    kernel.unshare(kernel.CLONE_NEWUSER | kernel.CLONE_NEWPID | kernel.CLONE_NEWNS)
    kernel.write_file("/proc/self/setgroups", "deny")
    kernel.write_file("/proc/self/uid_map", f"0 {uid} 1")
    kernel.write_file("/proc/self/gid_map", f"0 {gid} 1")


def _make_parents(root: str, path: str) -> None:
    os.makedirs(root + os.path.dirname(path), mode=0o755, exist_ok=True)


def _expose(root: str, path: str, done: list[str]) -> None:
    """Make `path` of the host visible at the same place below `root`, read-only."""
    if not os.path.lexists(path) or any(path == d or path.startswith(d.rstrip("/") + "/") for d in done):
        return
    target = root + path
    _make_parents(root, path)
    if os.path.islink(path):
        os.symlink(os.readlink(path), target)  # /bin -> usr/bin and the like: the same link inside
    elif os.path.isdir(path):
        os.makedirs(target, mode=0o755, exist_ok=True)
        kernel.bind_read_only(path, target, recursive=True)
    else:
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o444))
        kernel.bind_read_only(path, target)
    done.append(path)


def build_template(root: str, read_paths: list[str], devices: list[str]) -> None:
    """In the zygote: a private mount namespace with the jobs' root prepared at `root` (an empty directory)."""
    previous = os.umask(0o022)  # the modes below are meant for the job's user: the portal's own umask is 077
    try:
        _build_template(root, read_paths, devices)
    finally:
        os.umask(previous)


def _build_template(root: str, read_paths: list[str], devices: list[str]) -> None:
    kernel.unshare(kernel.CLONE_NEWNS)
    kernel.mount(None, "/", None, kernel.MS_REC | kernel.MS_PRIVATE)  # nothing we mount reaches the host
    kernel.mount("tmpfs", root, "tmpfs", kernel.MS_NOSUID | kernel.MS_NODEV, "mode=0755,size=4m")
    done: list[str] = []
    for path in sorted(set(read_paths), key=len):
        _expose(root, path, done)
    os.makedirs(root + "/dev", mode=0o755, exist_ok=True)
    for device in devices:
        if os.path.exists(device):
            os.close(os.open(root + device, os.O_CREAT | os.O_WRONLY, 0o666))
            kernel.mount(device, root + device, None, kernel.MS_BIND)
            kernel.mount(None, root + device, None, kernel.MS_REMOUNT | kernel.MS_BIND | kernel.MS_NOSUID)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2"), ("shm", JOB_SCRATCH)):  # fmt: skip
        os.symlink(target, f"{root}/dev/{name}")
    for folder in ("/proc", JOB_BUNDLE, JOB_SCRATCH):
        os.makedirs(root + folder, mode=0o755, exist_ok=True)
    tmp = root + "/tmp"  # noqa: S108 (the job's /tmp: its own scratch space)
    if not os.path.lexists(tmp):
        os.symlink(JOB_SCRATCH, tmp)
    kernel.mount(None, root, None, kernel.MS_REMOUNT | kernel.MS_RDONLY | kernel.MS_NOSUID | kernel.MS_NODEV)


def template_namespace(root: str) -> int:
    """In the zygote, after `build_template`: a mount namespace whose root is the template and nothing else of the
    host (a helper pivots into it and hands it over). Jobs take copies of it: a handful of mounts, where a copy of
    the zygote's own namespace would hold the host's whole tree, to be pivoted away and detached in every job.

    Its /proc is a procfs of the zygote's PID namespace, covered in every job by the job's own: a user namespace
    may mount a procfs only where a complete one is in view already."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            ours.close()
            kernel.unshare(kernel.CLONE_NEWNS)
            namespace = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
            kernel.mount("proc", root + "/proc", "proc", kernel.MS_NOSUID | kernel.MS_NODEV | kernel.MS_NOEXEC)
            os.chdir(root)
            kernel.pivot_root(".", ".")
            kernel.umount_detach(".")
            socket.send_fds(theirs, [b"1"], [namespace])
            code = 0
        finally:
            os._exit(code)
    theirs.close()
    try:
        _message, fds, _flags, _addr = socket.recv_fds(ours, 16, 1)
        if not fds:
            raise OSError(1, "could not make the jobs' mount namespace")
        return fds[0]
    finally:
        ours.close()
        os.waitpid(pid, 0)


def enter(jail: dict[str, Any], made_netns: bool) -> None:
    """In the child (the first process of its own PID namespace), still privileged: join the job's cgroups, take
    its own network (unless it may use the network), mount, IPC and cgroup namespaces, the mount one a copy of the
    template namespace, with its bundle, scratch space and /proc mounted. The process is left in /job/scratch.

    `made_netns`: a network namespace of its own was made already (ahead of the job); a job that may use the
    network goes back to the host's."""
    for procs in jail.get("cgroups", ()):
        kernel.write_file(procs, "0")
    if jail.get("network"):
        if made_netns:
            kernel.setns(int(jail["host_netns"]), kernel.CLONE_NEWNET)
    elif not made_netns:
        own_network()
    bundle = kernel.detached_read_only_copy(jail["bundle"])  # while the host's tree is still in view
    kernel.setns(int(jail["template_ns"]), kernel.CLONE_NEWNS)  # the root is the template's from here on
    # A cgroup namespace too, rooted at the job's cgroup: /proc/self/cgroup names no host path.
    kernel.unshare(kernel.CLONE_NEWNS | kernel.CLONE_NEWIPC | kernel.CLONE_NEWCGROUP)
    kernel.attach(bundle, JOB_BUNDLE)
    size_mb = int(jail["scratch_mb"])
    owner = f",uid={jail['uid']},gid={jail['gid']}" if "uid" in jail else ""
    options = f"size={size_mb}m,nr_inodes={max(4096, size_mb * 256)},mode=0700{owner}"
    kernel.mount("tmpfs", JOB_SCRATCH, "tmpfs", kernel.MS_NOSUID | kernel.MS_NODEV, options)
    kernel.mount("proc", "/proc", "proc", kernel.MS_NOSUID | kernel.MS_NODEV | kernel.MS_NOEXEC)
    os.chdir(JOB_SCRATCH)


def own_network() -> None:
    """A network namespace of this process's own, with only its loopback, up."""
    kernel.unshare(kernel.CLONE_NEWNET)
    _loopback_up()


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


def drop_privileges(jail: dict[str, Any]) -> None:
    """Become the job's uid (root portal) or the portal's uid in a user namespace of the job's own (unprivileged
    portal), with no capability in any set and no way to gain one."""
    if "uid" in jail:
        uid, gid = int(jail["uid"]), int(jail["gid"])
        os.setgroups([])
        if not bounding_set_dropped:
            kernel.drop_bounding_set()  # needs CAP_SETPCAP: while still root
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    else:
        outer_uid, outer_gid = int(jail["outer_uid"]), int(jail["outer_gid"])
        kernel.unshare(kernel.CLONE_NEWUSER)
        kernel.write_file("/proc/self/setgroups", "deny")
        kernel.write_file("/proc/self/uid_map", f"{outer_uid} 0 1")
        kernel.write_file("/proc/self/gid_map", f"{outer_gid} 0 1")
        kernel.drop_bounding_set()
    kernel.clear_capabilities()
    no_new_privileges()


def drop_capabilities() -> None:
    """Without a jail (no mount namespace here): keep the uid but give up every capability, for good."""
    if os.geteuid() == 0 and not bounding_set_dropped:
        kernel.drop_bounding_set()  # or an exec as uid 0 would get them all back
    kernel.clear_capabilities()


def no_new_privileges() -> None:
    """No set-uid program or file capability can raise this process's privileges again (needed for seccomp and
    Landlock too)."""
    kernel.prctl(kernel.PR_SET_NO_NEW_PRIVS, 1)


def privilege_status(status_fd: int | None = None) -> dict[str, int]:
    """This process's capability sets, `NoNewPrivs` and `Seccomp` mode, from /proc/self/status (or from that
    file opened earlier as `status_fd`: Landlock may not let it be opened any more, reading it still works)."""
    found: dict[str, int] = {}
    if status_fd is None:
        with open("/proc/self/status", "rb") as fh:
            text = fh.read().decode()
    else:
        text = os.pread(status_fd, 1 << 16, 0).decode()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in _STATUS_CAPS:
            found[key] = int(value.strip(), 16)
        elif key in ("NoNewPrivs", "Seccomp"):
            found[key] = int(value.strip())
    return found


def die_with_zygote(alive_fd: int) -> None:
    """SIGKILL this process when the zygote dies. `alive_fd` is the read end of a pipe whose only writer is the
    zygote: readable (end of file) means it is gone already, and nobody else would stop us."""
    kernel.prctl(kernel.PR_SET_PDEATHSIG, signal.SIGKILL)  # after every change of credentials, which clears it
    readable, _, _ = select.select([alive_fd], [], [], 0)
    if readable:
        os._exit(72)
