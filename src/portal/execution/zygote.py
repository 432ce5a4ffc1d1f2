"""The zygote: a warm, clean process that forks one sandboxed child per job.

Started once per worker as `python -I -m portal.execution.zygote FD` with a scrubbed environment. It never runs task
code itself, so every child starts from the same clean state, without paying for a fresh interpreter.

Messages on the SOCK_SEQPACKET control socket are JSON:
  parent -> zygote: {"id": N, "spec": {...}} with the child's four fds (stdin, stdout, stderr, events) attached;
  zygote -> parent: {"id": N, "pid": PID} or {"id": N, "error": "..."}; later {"exit": PID, "status": CODE}
  where CODE is the exit code, or minus the signal number that ended the child.
When the control socket closes or the zygote is told to stop, it kills every child's process group and exits.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import selectors
import signal
import socket
import sys

from portal.execution import child

_MAX_MESSAGE = 1 << 20


def _kill_all(children: dict[int, int]) -> None:
    for pid in list(children.values()):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def serve(control: socket.socket) -> None:
    """Fork children on request and report their exits until the parent goes away."""
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, None)
    children: dict[int, int] = {}  # pidfd -> pid
    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        _kill_all(children)
        os._exit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    while not stopping:
        for key, _ in selector.select():
            if key.data is None:
                try:
                    data, fds, _flags, _addr = socket.recv_fds(control, _MAX_MESSAGE, 8)
                except OSError:
                    data, fds = b"", []
                if not data:
                    _kill_all(children)
                    return
                _spawn(control, selector, children, data, fds)
            else:
                pidfd = key.fd
                pid = children.pop(pidfd)
                selector.unregister(pidfd)
                os.close(pidfd)
                _, status = os.waitpid(pid, 0)
                code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                control.send(json.dumps({"exit": pid, "status": code}).encode())


def _spawn(
    control: socket.socket,
    selector: selectors.BaseSelector,
    children: dict[int, int],
    data: bytes,
    fds: list[int],
) -> None:
    message = json.loads(data)
    try:
        child.prepare(message["spec"].get("confine"))
        zygote_pid = os.getpid()
        pid = os.fork()
    except Exception as exc:  # never let one request stop the zygote
        for fd in fds:
            os.close(fd)
        control.send(json.dumps({"id": message["id"], "error": f"cannot start the task process: {exc}"}).encode())
        return
    if pid == 0:
        child.start(message["spec"], fds, zygote_pid)  # never returns
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    children[pidfd] = pid
    selector.register(pidfd, selectors.EVENT_READ, pid)
    control.send(json.dumps({"id": message["id"], "pid": pid}).encode())


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    # Everything imported so far lives as long as the zygote: keep the collector from walking (and so
    # copy-on-write touching) those objects in every child.
    gc.freeze()
    try:
        # Die (and so kill our children) when the worker that started us dies, even by SIGKILL.
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    if os.getppid() != int(sys.argv[2]):
        return  # the worker died before we could ask to die with it
    serve(control)


if __name__ == "__main__":
    main()
