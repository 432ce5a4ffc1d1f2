"""The zygote: a warm, clean process that forks one confined child per job.

Started once per worker as `python -I -m portal.execution.zygote FD PARENT` with a scrubbed environment; its
configuration comes as the first message on the control socket. It never runs task code itself, so every child
starts from the same clean state, without paying for a fresh interpreter. At start it becomes the first process of
a PID namespace of its own (and, when the portal is not root, root of a user namespace), so that nothing it ever
forked outlives it; it prepares what every job shares (see `sandbox/`): the template of the jobs' file system view,
the Landlock rules of the system paths and the seccomp filter; then it forks a probe child that tries each
protection, and tells the parent what holds.

It keeps one child forked ahead of the next job, its network namespace already made, so that neither the fork nor
the namespace is on the job's path. Nothing of a job (its inputs, its environment and secrets) ever passes
through the zygote: every later child starts as a copy of its memory.

Messages on the SOCK_SEQPACKET control socket are JSON:
  parent -> zygote, once: {"config": {...}}
  zygote -> parent, once: {"hello": {...what is available and why not...}}
  parent -> zygote: {"id": N, "spec": {...}} with the child's four fds (stdin, stdout, stderr, events) attached;
  zygote -> parent: {"id": N, "pid": PID} or {"id": N, "error": "..."}; later
                    {"id": N, "exit": CODE, "cpu_seconds": S, "max_rss_kb": K} where CODE is the exit code, or minus
                    the signal number that ended the child;
  parent -> zygote: {"kill": N}: SIGKILL the child of request N (and so its whole PID namespace).
When the control socket closes or the zygote is told to stop, it kills every child and exits.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import select
import selectors
import signal
import socket
import sys
from dataclasses import dataclass, field
from typing import Any

from portal.execution import child
from portal.execution.sandbox import jail, kernel, landlock, seccomp

_MAX_MESSAGE = 1 << 20
_HIGH_FD = 256
_PROBE_SECONDS = 10.0


@dataclass
class _State:
    """What the zygote knows about itself and its children."""

    control_fd: int
    # A pipe whose write end only the zygote holds: its read end tells a child that the zygote is gone.
    alive_r: int = -1
    alive_w: int = -1
    pid_ns: int | None = None  # its own PID namespace, to return to after forking a child into a new one
    host_netns: int = -1  # the network namespace jobs that may use the network stay in
    template_ns: int = -1  # the mount namespace whose copies jobs get (jail.template_namespace)
    # Whether children make a network namespace of their own, and whether one made ahead can be left again for
    # the host's (only as root: a user namespace's root may not join the host's network namespace).
    fresh_netns: bool = False
    may_rejoin_host_netns: bool = False
    children: dict[int, tuple[int, int]] = field(default_factory=dict)  # pidfd -> (request id, pid)
    # A child forked ahead of the next job (pid, the socket its spec goes through, the Landlock generation it
    # was forked at, whether it made its network namespace already).
    warm: tuple[int, socket.socket, int, bool] | None = None

    def pid_of(self, request_id: int) -> int | None:
        return next((pid for rid, pid in self.children.values() if rid == request_id), None)


def _kill(pid: int) -> None:
    for kill in (os.killpg, os.kill):  # the group too: without a PID namespace, grandchildren live there
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _kill_all(state: _State) -> None:
    for _request, pid in list(state.children.values()):
        _kill(pid)
    _drop_warm(state)


def _fork(state: _State) -> int:
    """fork(), the child as the first process of a new PID namespace when the kernel allows it."""
    if state.pid_ns is None:
        return os.fork()
    kernel.unshare(kernel.CLONE_NEWPID)
    try:
        pid = os.fork()
    except BaseException:
        kernel.setns(state.pid_ns, kernel.CLONE_NEWPID)
        raise
    if pid:
        kernel.setns(state.pid_ns, kernel.CLONE_NEWPID)  # back to our own: the next child gets a new one again
    return pid


def _in_child(state: _State) -> None:
    """First thing in any forked child: let go of what only the zygote may hold."""
    os.close(state.alive_w)
    os.close(state.control_fd)
    if state.warm is not None:
        state.warm[1].close()


def _drop_warm(state: _State) -> None:
    if state.warm is not None:
        pid, sock, _generation, _netns = state.warm
        state.warm = None
        sock.close()  # it exits when it reads the end
        _kill(pid)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _make_warm(state: _State) -> None:
    """Fork the child of the next job now, while nothing waits for it; it makes its network namespace too."""
    if state.warm is not None:
        return
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        pid = _fork(state)
    except OSError:
        ours.close()
        theirs.close()
        return  # the next job forks its own
    if pid == 0:
        ours.close()
        _in_child(state)
        child.wait_then_start(theirs.detach(), state.alive_r, state.fresh_netns)  # never returns
    theirs.close()
    state.warm = (pid, ours, landlock.generation, state.fresh_netns)


def _take_warm(state: _State, spec: dict[str, Any], fds: list[int]) -> int | None:
    """Hand a job to the child forked ahead; its pid, or None when there is none fit for it."""
    if state.warm is None:
        return None
    pid, sock, generation, made_netns = state.warm
    if generation != landlock.generation:  # forked before rules this job needs were prepared
        _drop_warm(state)
        return None
    if made_netns and spec.get("jail", {}).get("network") and not state.may_rejoin_host_netns:
        return None  # this one stays for the next job without network
    state.warm = None
    try:
        socket.send_fds(sock, [json.dumps(spec).encode()], fds)
    except OSError:
        sock.close()
        _kill(pid)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        return None
    sock.close()
    return pid


def serve(control: socket.socket, state: _State) -> None:
    """Fork children on request and report their exits until the parent goes away."""
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, None)

    def _stop(_signum: int, _frame: object) -> None:
        _kill_all(state)
        os._exit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    while True:
        for key, _ in selector.select():
            if key.data is None:
                try:
                    data, fds, _flags, _addr = socket.recv_fds(control, _MAX_MESSAGE, 8)
                except OSError:
                    data, fds = b"", []
                if not data:
                    _kill_all(state)
                    return
                message = json.loads(data)
                if "kill" in message:
                    pid = state.pid_of(int(message["kill"]))
                    if pid is not None:
                        _kill(pid)
                    continue
                _spawn(control, selector, state, message, fds)
                # The next job's child is forked here, with nothing of this request left in its frames.
                del message, data, fds
                _make_warm(state)
            else:
                _reap(control, selector, state, key.fd)


def _reap(control: socket.socket, selector: selectors.BaseSelector, state: _State, pidfd: int) -> None:
    request_id, pid = state.children.pop(pidfd)
    selector.unregister(pidfd)
    os.close(pidfd)
    if state.pid_ns is None:
        # What it left running in its process group, which would hold the pipes open. Before the child is
        # reaped: until then its pid, and so the group's id, cannot be anyone else's.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    notice = {
        "id": request_id,
        "exit": code,
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
        "max_rss_kb": usage.ru_maxrss,
    }
    control.send(json.dumps(notice).encode())


def _spawn(
    control: socket.socket, selector: selectors.BaseSelector, state: _State, message: dict[str, Any], fds: list[int]
) -> None:
    spec = message["spec"]
    try:
        confine = spec.get("landlock")
        if confine:
            landlock.prepare(confine["prepared"])
            if confine.get("any_port_except") is not None:
                landlock.prepare_any_port_except(confine["any_port_except"])
        if spec.get("jail"):
            spec["jail"].update(host_netns=state.host_netns, template_ns=state.template_ns)
        pid = _take_warm(state, spec, fds)
        if pid is None:
            pid = _fork(state)
    except Exception as exc:  # never let one request stop the zygote
        for fd in fds:
            os.close(fd)
        control.send(json.dumps({"id": message["id"], "error": f"cannot start the task process: {exc}"}).encode())
        return
    if pid == 0:
        _in_child(state)
        child.start(spec, fds, state.alive_r, made_netns=False)  # never returns
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    state.children[pidfd] = (int(message["id"]), pid)
    selector.register(pidfd, selectors.EVENT_READ, pid)
    control.send(json.dumps({"id": message["id"], "pid": pid}).encode())


def _high(fd: int) -> int:
    """`fd` moved above 255: a child puts its job's pipes on 0-3 before it is done with the zygote's descriptors."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _HIGH_FD)
    os.close(fd)
    return moved


def _alive_pipe(state: _State) -> None:
    read, write = os.pipe()
    state.alive_r, state.alive_w = _high(read), _high(write)


def _outcome(action: Any) -> list[Any]:
    try:
        action()
        return [True, ""]
    except OSError as exc:
        return [False, exc.strerror or str(exc)]


def _become_namespace_init(control: socket.socket, user_namespace: bool) -> list[Any]:
    """Go on as the first process of a PID namespace of our own (and, when not root, as root of a user namespace
    of our own): when we die, for whatever reason, the kernel kills every process we ever forked, whatever it did
    to its own parent-death signal. The process the worker started stays behind only to wait (and to die with the
    worker, which takes us with it)."""
    if user_namespace:
        entered = _outcome(jail.enter_user_namespace)
        if not entered[0]:
            return entered
    else:
        entered = _outcome(lambda: kernel.unshare(kernel.CLONE_NEWPID))
        if not entered[0]:
            return entered
    keeper_r, keeper_w = os.pipe()
    pid = os.fork()
    if pid:
        control.close()
        os.close(keeper_r)
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    os.close(keeper_w)
    kernel.prctl(kernel.PR_SET_PDEATHSIG, signal.SIGKILL)
    if select.select([keeper_r], [], [], 0)[0]:
        os._exit(0)  # the process that started us is gone already
    os.close(keeper_r)
    return entered


def _template(state: _State, config: dict[str, Any]) -> None:
    jail.build_template(config["root"], config["read_paths"], config["devices"])
    state.template_ns = _high(jail.template_namespace(config["root"]))


def _pid_namespaces(state: _State) -> list[Any]:
    """Children as the first process of a PID namespace each: needs to make one and to return to our own."""
    try:
        own = _high(os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC))
        kernel.unshare(kernel.CLONE_NEWPID)
        kernel.setns(own, kernel.CLONE_NEWPID)
    except OSError as exc:
        return [False, exc.strerror or str(exc)]
    state.pid_ns = own
    return [True, ""]


def _probe(state: _State, spec: dict[str, Any]) -> dict[str, Any]:
    """Fork a child like a job's and let it try each protection; its report, or why there is none."""
    report_r, report_w = os.pipe()
    try:
        pid = _fork(state)
    except OSError as exc:
        os.close(report_r)
        os.close(report_w)
        return {"error": f"cannot fork a probe: {exc}"}
    if pid == 0:
        os.close(report_r)
        _in_child(state)
        child.probe(spec, report_w, state.alive_r)  # never returns
    os.close(report_w)
    data = b""
    try:
        while select.select([report_r], [], [], _PROBE_SECONDS)[0]:
            chunk = os.read(report_r, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(report_r)
        _kill(pid)
        os.waitpid(pid, 0)
    try:
        found: dict[str, Any] = json.loads(data)
    except ValueError:
        return {"error": "the probe reported nothing"}
    return found


def prepare(config: dict[str, Any], control: socket.socket, state: _State) -> dict[str, Any]:
    """Everything the jobs share, tried for real: what holds goes into the hello message."""
    hello: dict[str, Any] = {"euid": os.geteuid(), "arch": kernel.ARCH, "landlock_abi": landlock.abi()}
    state.host_netns = _high(os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC))
    if config["isolation"] == "off":
        _alive_pipe(state)
        return hello
    root = os.geteuid() == 0
    hello["namespace_init"] = _become_namespace_init(control, user_namespace=not root)
    if not root:
        hello["user_namespace"] = hello["namespace_init"]
    _alive_pipe(state)
    hello["template"] = _outcome(lambda: _template(state, config))
    hello["pid_namespace"] = _pid_namespaces(state)
    if root and _outcome(kernel.drop_bounding_set)[0]:
        # Gone from the zygote's bounding set, gone from every child's: they keep what they hold now (for their
        # mounts) and lose it with their uid, with no way back through an exec.
        jail.bounding_set_dropped = True
    # Jobs of an unprivileged portal share its uid: what the kernel counts per user is refused them.
    programs = {
        "network": seccomp.filter_program(shared_uid=not root),
        "local": seccomp.filter_program(datagrams=False, shared_uid=not root),
    }
    child.prepare(programs)
    found = programs["local"] is not None
    hello["seccomp_filter"] = [found, "" if found else f"no seccomp table for {kernel.ARCH}"]
    landlock.prepare(config["probe"].get("landlock", {}).get("prepared", []))
    probe_spec = dict(config["probe"])
    if hello["template"][0]:
        probe_spec["jail"] = {**probe_spec["jail"], "host_netns": state.host_netns, "template_ns": state.template_ns}
    else:
        probe_spec.pop("jail", None)
    hello["probe"] = _probe(state, probe_spec)
    state.fresh_netns = bool(hello["probe"].get("network_namespace", [False])[0])
    state.may_rejoin_host_netns = root
    return hello


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    try:
        # Die (and so kill our children) when the worker that started us dies, even by SIGKILL.
        kernel.prctl(kernel.PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    if os.getppid() != int(sys.argv[2]):
        return  # the worker died before we could ask to die with it
    # The configuration comes on the socket rather than the command line, which every job could read.
    config = json.loads(control.recv(_MAX_MESSAGE))["config"]
    state = _State(control_fd=control.fileno())
    hello = prepare(config, control, state)
    # Everything imported so far lives as long as the zygote: keep the collector from walking (and so
    # copy-on-write touching) those objects in every child.
    gc.freeze()
    control.send(json.dumps({"hello": hello}).encode())
    _make_warm(state)
    serve(control, state)


if __name__ == "__main__":
    main()
