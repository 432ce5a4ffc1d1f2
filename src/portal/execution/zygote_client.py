"""The runner's side of the zygote: start it (and again when it dies), ask it for children, learn how they end."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import queue
import select
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

SPAWN_SECONDS = 30.0
# What a send fails with when the zygote is gone; anything else is the request's fault.
_STOPPED_ERRORS = {errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.EBADF}
_HELLO_SECONDS = 30.0


def _ready(sock: socket.socket, event: int, seconds: float) -> bool:
    """Whether `sock` is ready for `event` within `seconds` (poll, not select: a runner of a thousand jobs holds
    descriptors past select's limit of 1024)."""
    poller = select.poll()
    poller.register(sock, event)
    return bool(poller.poll(seconds * 1000))


class RunnerLost(Exception):
    """The zygote died or refused to fork."""


class _ZygoteStopped(RunnerLost):
    """The zygote stopped before it answered a spawn request: the request can be made again to a new one."""


@dataclass(frozen=True)
class Exit:
    """How a child ended: its exit code (minus the signal number when a signal ended it) and what it used."""

    status: int
    cpu_seconds: float = 0.0
    max_rss_kb: int = 0


class ZygoteClient:
    """Client of one zygote process: spawn requests from any thread, exit notices routed to the waiting run."""

    def __init__(self, config: dict[str, Any], on_hello: Any) -> None:
        self._config = config
        self._on_hello = on_hello
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._next_id = 0
        self._heard = time.monotonic()  # when the current zygote last sent anything
        self._sending: Counter[socket.socket] = Counter()  # senders in the middle of a send, per socket
        self._dead: set[socket.socket] = set()  # sockets of stopped zygotes that the last sender closes
        self._stopped = False
        self._spawns: dict[int, Future[int]] = {}
        self._exits: dict[int, Future[Exit]] = {}
        # Which zygote (by its socket) each request belongs to: when one zygote goes, only its own waiters fail,
        # not those of the zygote that replaced it.
        self._owners: dict[int, socket.socket] = {}
        # The zygote's parent-death signal fires when the *thread* that started it exits, so zygotes are
        # started by this thread, which lives as long as the runner, never by a request or slot thread.
        self._starts: queue.Queue[tuple[Future[subprocess.Popen[bytes]], socket.socket] | None] = queue.Queue()
        self._keeper = threading.Thread(target=self._keep, name="zygote-keeper", daemon=True)
        self._keeper.start()

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._proc

    def _keep(self) -> None:
        while (request := self._starts.get()) is not None:
            started, child_sock = request
            try:
                started.set_result(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-I",
                            "-m",
                            "portal.execution.zygote",
                            str(child_sock.fileno()),
                            str(os.getpid()),
                        ],
                        pass_fds=[child_sock.fileno()],
                        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": os.environ.get("LANG", "C.UTF-8")},
                        cwd="/",
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
            except BaseException as exc:
                started.set_exception(exc)

    def start(self) -> None:
        """Make sure a zygote runs (and so that its hello was heard)."""
        with self._lock:
            if self._sock is None:
                self._start()

    def _start(self) -> socket.socket:
        if self._stopped:
            raise RunnerLost("the runner is stopping")
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        started: Future[subprocess.Popen[bytes]] = Future()
        self._starts.put((started, child_sock))
        try:
            proc = started.result(timeout=SPAWN_SECONDS)
        except BaseException:
            parent_sock.close()
            raise
        finally:
            child_sock.close()
        try:
            parent_sock.send(json.dumps({"config": self._config}).encode())
            self._on_hello(self._hello(parent_sock))  # may refuse it: then it is stopped like one that failed
        except BaseException:
            parent_sock.close()
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
            raise
        self._proc, self._sock = proc, parent_sock
        self._heard = time.monotonic()
        threading.Thread(target=self._read, args=(parent_sock, proc), name="zygote-reader", daemon=True).start()
        return parent_sock

    @staticmethod
    def _hello(sock: socket.socket) -> dict[str, Any]:
        if not _ready(sock, select.POLLIN, _HELLO_SECONDS):
            raise RunnerLost(f"the runner's zygote did not start within {_HELLO_SECONDS:g} s")
        data = sock.recv(65536)
        if not data:
            raise RunnerLost("the runner's zygote stopped while starting")
        hello: dict[str, Any] = json.loads(data)["hello"]
        return hello

    def _read(self, sock: socket.socket, proc: subprocess.Popen[bytes]) -> None:
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            if self._sock is sock:
                self._heard = time.monotonic()
            message = json.loads(data)
            request_id = int(message["id"])
            with self._lock:
                if "exit" in message:
                    # Dropped when the run already gave up on this child (forget).
                    waiting = self._exits.get(request_id)
                    if waiting is not None and not waiting.done():
                        waiting.set_result(
                            Exit(int(message["exit"]), float(message["cpu_seconds"]), int(message["max_rss_kb"]))
                        )
                    continue
                future = self._spawns.pop(request_id, None)
                if future is not None and "pid" in message:
                    self._exits[request_id] = Future()
                else:
                    self._owners.pop(request_id, None)
            if future is None:
                continue
            if "pid" in message:
                future.set_result(int(message["pid"]))
            else:
                future.set_exception(RunnerLost(message.get("error", "spawn failed")))
        with self._lock:
            if self._sock is sock:
                self._sock = None
            mine = [r for r, owner in self._owners.items() if owner is sock]
            pending: list[Future[Any]] = []
            for request_id in mine:
                del self._owners[request_id]
                spawn = self._spawns.pop(request_id, None)
                ended = self._exits.pop(request_id, None)
                pending.extend(f for f in (spawn, ended) if f is not None)
        for future in pending:
            if not future.done():
                future.set_exception(_ZygoteStopped("the runner's zygote process stopped"))
        with contextlib.suppress(ProcessLookupError, ChildProcessError, subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        # Closed now, or by the last sender still in a send (a descriptor closed under a sender could be another
        # file's by the time its call runs).
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with self._lock:
            close = not self._sending.get(sock)
            if close:
                self._sending.pop(sock, None)
            else:
                self._dead.add(sock)
        if close:
            sock.close()

    def spawn(self, spec: dict[str, Any], fds: list[int]) -> tuple[int, Future[Exit]]:
        """Fork a child with `fds` as its pipes; returns the request id (to kill or forget it) and its end.

        A zygote that stops before it answered (it died since the last job, and its reader has not noticed yet)
        is replaced and asked again, once: no child of it can be running."""
        try:
            return self._spawn_once(spec, fds)
        except _ZygoteStopped:
            return self._spawn_once(spec, fds)
        except OSError as exc:  # the request, not the zygote, is at fault: nothing to restart
            if exc.errno == errno.EMSGSIZE:
                raise RunnerLost(f"the job's request is too large for the runner ({exc})") from exc
            raise RunnerLost(f"the runner could not send the job's request ({exc})") from exc

    def _spawn_once(self, spec: dict[str, Any], fds: list[int]) -> tuple[int, Future[Exit]]:
        with self._lock:
            sock = self._sock or self._start()
            self._next_id += 1
            request_id = self._next_id
            future: Future[int] = Future()
            self._spawns[request_id] = future
            self._owners[request_id] = sock
            self._sending[sock] += 1
        message = json.dumps({"id": request_id, "spec": spec}).encode()
        try:
            self._send(sock, message, fds, request_id)
        finally:
            self._sent(sock)
        sent = time.monotonic()
        while not self._answered(future):
            # Silent for SPAWN_SECONDS: a zygote that answers nothing is replaced, not waited on forever. One that
            # answers the requests ahead of this one (a thousand jobs starting at once) is only busy.
            if self._silent(sock, sent) and self._give_up(request_id):
                self._restart(sock)
                raise RunnerLost(f"the runner's zygote did not answer within {SPAWN_SECONDS:g} s")
        with self._lock:
            exit_future = self._exits.get(request_id)
        if exit_future is None:  # the zygote stopped right after forking: the child died with it
            exit_future = Future()
            exit_future.set_exception(RunnerLost("the runner's zygote process stopped"))
        return request_id, exit_future

    def _send(self, sock: socket.socket, message: bytes, fds: list[int], request_id: int) -> None:
        """Send a spawn request, without the lock.

        The zygote answers on this socket, and a Unix socket holds only a few messages unread: with many requests
        at once, the zygote waits for the reader to take its answers, and the reader takes the lock for each. A
        sender holding the lock while the zygote's own queue is full would wait on a zygote that waits on it.
        (Each message is whole on a SOCK_SEQPACKET socket: senders need no turn.) A sender waits while the queue
        is full; when the zygote answers nothing, the requests sent before it find out and replace it, and the
        wait ends with the socket."""
        try:
            socket.send_fds(sock, [message], fds)
        except OSError as exc:
            self._give_up(request_id)
            if exc.errno in _STOPPED_ERRORS:
                self._restart(sock)
                raise _ZygoteStopped() from exc
            raise  # the request is at fault (too large, too many descriptors in flight): the zygote stays

    def _sent(self, sock: socket.socket) -> None:
        with self._lock:
            self._sending[sock] -= 1
            if self._sending[sock]:
                return
            del self._sending[sock]
            if sock not in self._dead:
                return
            self._dead.discard(sock)
        sock.close()

    def _silent(self, sock: socket.socket, sent: float) -> bool:
        """Whether the zygote behind `sock`, still the current one, has sent nothing for SPAWN_SECONDS since `sent`
        (or since it last spoke). A replaced zygote's reader fails its requests itself."""
        return self._sock is sock and time.monotonic() - max(self._heard, sent) >= SPAWN_SECONDS

    def _give_up(self, request_id: int) -> bool:
        """Stop waiting for a request; False when its answer came meanwhile (its future has it, and the child it
        names stays killable)."""
        with self._lock:
            if self._spawns.pop(request_id, None) is None:
                return False
            self._owners.pop(request_id, None)
            return True

    @staticmethod
    def _answered(future: Future[int]) -> bool:
        """Whether the spawn was answered (raising what the zygote refused) within a second."""
        try:
            future.result(timeout=1.0)
        except TimeoutError:
            return False
        return True

    def kill(self, request_id: int) -> None:
        """SIGKILL the child of a request, and with it every process of its job."""
        with self._lock:
            sock = self._owners.get(request_id)
        if sock is None:
            return
        # Never waits on a zygote whose queue is full: the run asks again until the child is gone.
        with contextlib.suppress(OSError):
            sock.send(json.dumps({"kill": request_id}).encode(), socket.MSG_DONTWAIT)

    def forget(self, request_id: int) -> None:
        with self._lock:
            self._exits.pop(request_id, None)
            self._owners.pop(request_id, None)

    def _restart(self, sock: socket.socket) -> None:
        """Drop the zygote behind `sock` if it is still the current one (its reader fails what still waits on it);
        the next spawn starts another. A zygote that replaced it meanwhile is left alone."""
        with self._lock:
            if self._sock is not sock:
                return
            proc = self._proc
            self._sock = None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._starts.put(None)
        with self._lock:
            sock, proc = self._sock, self._proc
            self._sock = None
            self._stopped = True
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
