"""The parent side of the runner: start a sandboxed child for a job, stream its events, enforce time and cancel.

Children are forked by a zygote (see zygote.py), one per runner, restarted if it dies. The parent reads the child's
event pipe and its stdout/stderr, throttles progress, and reports everything through callbacks; it never touches the
database itself (the executor does, through the job service).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

_READ_CHUNK = 65536
_LOG_FLUSH_SECONDS = 0.2
_DRAIN_SECONDS = 1.0
_PIPE_BUFFER = 60_000  # Linux pipes hold 64 KiB by default
_EVENT_OVERHEAD = 65_536  # room for the JSON around a result of the largest allowed size
_LOST_AFTER_KILL_SECONDS = 10.0
_SPAWN_SECONDS = 30.0
# What a task may read besides its bundle: the system and the interpreter. Not the portal's data directory,
# not other jobs' scratch directories, not home directories.
_SYSTEM_READ_PATHS = (
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt",
    # From /etc only what programs need to resolve names, verify TLS and know users: not /etc/shadow.
    "/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf",
    "/etc/host.conf", "/etc/gai.conf", "/etc/passwd", "/etc/group", "/etc/localtime", "/etc/timezone",
    "/etc/os-release", "/etc/protocols", "/etc/services", "/etc/mime.types", "/etc/ld.so.cache",
    "/etc/alternatives", "/run/systemd/resolve",
    # Machine-wide facts from /proc (the task's own /proc/self is added per job): other processes' entries,
    # the worker's environment among them, stay out of sight.
    "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/loadavg", "/proc/uptime", "/proc/version",
    "/proc/sys", "/proc/filesystems",
)  # fmt: skip
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpu_seconds: int
    file_size_mb: int
    open_files: int
    timeout_seconds: float


@dataclass(frozen=True)
class RunRequest:
    job_id: int
    bundle_dir: str
    entrypoint: str
    inputs: dict[str, Any]
    workdir: str
    limits: Limits
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    """How a run ended: exactly one of result (succeeded), error (failed) or cancelled is meaningful."""

    succeeded: bool = False
    result: Any = None
    error: dict[str, Any] | None = None
    cancelled: bool = False
    exit_status: int | None = None


class RunnerLost(Exception):
    """The zygote died or refused to fork."""


class _Zygote:
    """Client of one zygote process: serialized spawn requests, exit notices routed to the waiting run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._next_id = 0
        self._spawns: dict[int, Future[int]] = {}
        self._exits: dict[int, Future[int]] = {}
        # Which zygote (by its socket) each request and each child belongs to: when one zygote goes, only its
        # own waiters fail, not those of the zygote that replaced it.
        self._owners: dict[int, socket.socket] = {}
        self._exit_owners: dict[int, socket.socket] = {}
        # The zygote's parent-death signal fires when the *thread* that started it exits, so zygotes are
        # started by this thread, which lives as long as the runner, never by a request or slot thread.
        self._starts: queue.Queue[Future[subprocess.Popen[bytes]] | None] = queue.Queue()
        self._child_sock: socket.socket | None = None
        self._keeper = threading.Thread(target=self._keep, name="zygote-keeper", daemon=True)
        self._keeper.start()

    def _keep(self) -> None:
        while (request := self._starts.get()) is not None:
            try:
                assert self._child_sock is not None
                request.set_result(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-I",
                            "-m",
                            "portal.execution.zygote",
                            str(self._child_sock.fileno()),
                            str(os.getpid()),
                        ],
                        pass_fds=[self._child_sock.fileno()],
                        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": os.environ.get("LANG", "C.UTF-8")},
                        cwd="/",
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
            except BaseException as exc:
                request.set_exception(exc)

    def _start(self) -> socket.socket:
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._child_sock = child_sock
        started: Future[subprocess.Popen[bytes]] = Future()
        self._starts.put(started)
        try:
            self._proc = started.result(timeout=_SPAWN_SECONDS)
        except BaseException:
            parent_sock.close()
            raise
        finally:
            self._child_sock = None
            child_sock.close()
        self._sock = parent_sock
        threading.Thread(target=self._read, args=(parent_sock, self._proc), name="zygote-reader", daemon=True).start()
        return parent_sock

    def _read(self, sock: socket.socket, proc: subprocess.Popen[bytes]) -> None:
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            message = json.loads(data)
            with self._lock:
                if "exit" in message:
                    # Dropped when the run already gave up on this pid (forget): the zygote reaps a child
                    # before the pid can be reused, so a later child's notice never arrives first.
                    waiting = self._exits.get(message["exit"])
                    if waiting is not None and not waiting.done():
                        waiting.set_result(message["status"])
                    continue
                future = self._spawns.pop(message["id"], None)
                self._owners.pop(message["id"], None)
                if future is not None and "pid" in message:
                    self._exits[message["pid"]] = Future()
                    self._exit_owners[message["pid"]] = sock
            if future is None:
                continue
            if "pid" in message:
                future.set_result(message["pid"])
            else:
                future.set_exception(RunnerLost(message.get("error", "spawn failed")))
        with self._lock:
            if self._sock is sock:
                self._sock = None
            pending = [
                self._spawns.pop(request_id)
                for request_id in [r for r, owner in self._owners.items() if owner is sock]
                if request_id in self._spawns
            ]
            self._owners = {r: owner for r, owner in self._owners.items() if owner is not sock}
            for pid in [p for p, owner in self._exit_owners.items() if owner is sock]:
                del self._exit_owners[pid]
                waiting = self._exits.pop(pid, None)
                if waiting is not None:
                    pending.append(waiting)
        for future in pending:
            if not future.done():
                future.set_exception(RunnerLost("the runner's zygote process stopped"))
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            proc.wait(timeout=5)
        sock.close()

    def spawn(self, spec: dict[str, Any], fds: list[int]) -> tuple[int, Future[int]]:
        with self._lock:
            sock = self._sock or self._start()
            self._next_id += 1
            request_id = self._next_id
            future: Future[int] = Future()
            self._spawns[request_id] = future
            message = json.dumps({"id": request_id, "spec": spec}).encode()
            self._owners[request_id] = sock
            try:
                socket.send_fds(sock, [message], fds)
            except OSError:
                # The zygote died since the last job and its reader has not noticed yet: start another, once.
                if self._sock is sock:
                    self._sock = None
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                try:
                    sock = self._start()
                    self._owners[request_id] = sock
                    socket.send_fds(sock, [message], fds)
                except OSError as exc:
                    self._spawns.pop(request_id, None)
                    self._owners.pop(request_id, None)
                    raise RunnerLost(f"cannot reach the runner's zygote: {exc}") from exc
        try:
            pid = future.result(timeout=_SPAWN_SECONDS)
        except TimeoutError:
            with self._lock:
                self._spawns.pop(request_id, None)
                self._owners.pop(request_id, None)
            self._restart()  # a zygote that does not answer is replaced, not waited on forever
            raise RunnerLost(f"the runner's zygote did not answer within {_SPAWN_SECONDS:g} s") from None
        with self._lock:
            exit_future = self._exits.get(pid)
        if exit_future is None:  # the zygote stopped right after forking: the child died with it
            exit_future = Future()
            exit_future.set_exception(RunnerLost("the runner's zygote process stopped"))
        return pid, exit_future

    def forget(self, pid: int, exit_future: Future[int]) -> None:
        with self._lock:
            if self._exits.get(pid) is exit_future:  # not a newer run's, should the pid have been reused
                del self._exits[pid]
                self._exit_owners.pop(pid, None)

    def _restart(self) -> None:
        """Drop the current zygote (its reader fails what still waits on it); the next spawn starts another."""
        with self._lock:
            sock, proc = self._sock, self._proc
            self._sock = None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._starts.put(None)
        with self._lock:
            sock, proc = self._sock, self._proc
            self._sock = None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


EventCallback = Callable[[dict[str, Any]], None]


class Runner:
    """Runs tasks in sandboxed children; safe to use from many threads at once."""

    def __init__(
        self,
        *,
        log_max_lines: int = 2000,
        log_max_line_chars: int = 4000,
        progress_per_second: float = 10.0,
        result_max_bytes: int = 1_048_576,
        filesystem_sandbox: str = "auto",
    ) -> None:
        self._zygote = _Zygote()
        self._filesystem_sandbox = filesystem_sandbox
        self._log_max_lines = log_max_lines
        self._log_max_line_chars = log_max_line_chars
        self._progress_interval = 1.0 / progress_per_second if progress_per_second > 0 else 0.0
        self._result_max_bytes = result_max_bytes

    def stop(self) -> None:
        """Stop the zygote; it kills any child still running."""
        self._zygote.stop()

    def run(self, request: RunRequest, on_event: EventCallback, cancel: threading.Event | None = None) -> Outcome:
        """Run one task to its end. `on_event` receives progress and log events; `cancel` kills it when set."""
        spec = {
            "bundle_dir": request.bundle_dir,
            "workdir": request.workdir,
            "limits": {
                "memory_mb": request.limits.memory_mb,
                "cpu_seconds": request.limits.cpu_seconds,
                "file_size_mb": request.limits.file_size_mb,
                "open_files": request.limits.open_files,
            },
            "env": self._child_env(request),
        }
        if self._filesystem_sandbox != "off":
            spec["confine"] = {
                "system_read": [
                    *_SYSTEM_READ_PATHS,
                    sys.base_prefix,
                    os.path.dirname(os.path.realpath(sys.executable)),
                ],
                "system_write": list(_DEVICES),
                "read": [request.bundle_dir, "/proc/self"],  # opened by the child: its own /proc entry
                "write": [request.workdir],
                "required": self._filesystem_sandbox == "required",
            }
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        events_r, events_w = os.pipe()
        child_fds = [stdin_r, stdout_w, stderr_w, events_w]
        try:
            pid, exit_future = self._zygote.spawn(spec, child_fds)
        except BaseException:
            for fd in (stdin_w, stdout_r, stderr_r, events_r):
                os.close(fd)
            raise
        finally:
            for fd in child_fds:
                os.close(fd)
        try:
            return self._supervise(request, pid, exit_future, stdin_w, stdout_r, stderr_r, events_r, on_event, cancel)
        finally:
            self._zygote.forget(pid, exit_future)

    @staticmethod
    def _child_env(request: RunRequest) -> dict[str, str]:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": request.workdir,
            "TMPDIR": request.workdir,
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PORTAL_JOB_ID": str(request.job_id),
        }
        env.update(request.env)
        return env

    def _supervise(
        self,
        request: RunRequest,
        pid: int,
        exit_future: Future[int],
        stdin_w: int,
        stdout_r: int,
        stderr_r: int,
        events_r: int,
        on_event: EventCallback,
        cancel: threading.Event | None,
    ) -> Outcome:
        outcome = Outcome()
        deadline = time.monotonic() + request.limits.timeout_seconds
        payload = json.dumps(
            {"bundle_dir": request.bundle_dir, "entrypoint": request.entrypoint, "inputs": request.inputs}
        ).encode()
        writer: threading.Thread | None = None
        if len(payload) < _PIPE_BUFFER:
            _write_all(stdin_w, payload)  # fits in the pipe buffer: never blocks
        else:
            writer = threading.Thread(target=_write_all, args=(stdin_w, payload), daemon=True)
            writer.start()

        selector = selectors.DefaultSelector()
        buffers: dict[int, bytearray] = {stdout_r: bytearray(), stderr_r: bytearray(), events_r: bytearray()}
        streams = {stdout_r: "stdout", stderr_r: "stderr"}
        for fd in buffers:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        log_lines = 0
        last_progress = last_logs = 0.0
        pending_progress: dict[str, Any] | None = None
        pending_logs: list[dict[str, str]] = []
        kill_reason: dict[str, Any] | None = None

        def kill() -> None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            if not exit_future.done():
                # Before its setsid() the child leads no process group yet; it is our zygote's unreaped
                # child, so its pid cannot have been reused.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

        def emit_log(stream: str, raw: bytes | bytearray) -> None:
            nonlocal log_lines
            if log_lines > self._log_max_lines:
                return
            log_lines += 1
            if log_lines > self._log_max_lines:
                line = f"[log truncated after {self._log_max_lines} lines]"
                stream = "system"
            else:
                line = raw.decode("utf-8", "replace").rstrip("\r")[: self._log_max_line_chars]
            pending_logs.append({"stream": stream, "line": line})

        def check_limits(now: float) -> None:
            nonlocal kill_reason
            if exit_future.done():
                return  # it ended by itself: a late cancel or deadline must not rewrite how
            if kill_reason is not None:
                kill()  # again, until it is gone: the first kill may have come before its setsid()
                return
            if cancel is not None and cancel.is_set():
                kill_reason = {"cancelled": True}
                kill()
            if kill_reason is None and now >= deadline:
                kill_reason = {
                    "error_type": "Timeout",
                    "message": f"the task ran longer than its {request.limits.timeout_seconds:g} s limit",
                }
                kill()

        event_cap = self._result_max_bytes + _EVENT_OVERHEAD
        log_cap = self._log_max_line_chars * 4

        def take_lines(fd: int, chunk: bytes) -> list[bytes]:
            """The complete lines that `chunk` finishes. Only the new bytes are searched, and a partial line
            is bounded: a log line is cut, an event line over the result limit ends the task."""
            nonlocal kill_reason
            buf = buffers[fd]
            if not chunk:
                rest = bytes(buf)
                buf.clear()
                return [rest] if rest else []
            newline = chunk.rfind(b"\n")
            if newline < 0:
                buf.extend(chunk)
                lines: list[bytes] = []
            else:
                buf.extend(chunk[:newline])
                lines = bytes(buf).split(b"\n")
                buf[:] = chunk[newline + 1 :]
            if fd == events_r and len(buf) > event_cap and kill_reason is None:
                kill_reason = {
                    "error_type": "ResultTooLarge",
                    "message": f"the task wrote an event larger than the {self._result_max_bytes} byte result limit",
                }
                kill()
                buf.clear()
            elif fd != events_r and len(buf) > log_cap:
                lines.append(bytes(buf))
                buf.clear()
            return lines

        exited_at: float | None = None
        try:
            try:
                while selector.get_map():
                    now = time.monotonic()
                    if exit_future.done():
                        # The task's process is gone: stop whatever it left behind in its group (which would
                        # hold the pipes open), and read what is still buffered for a moment.
                        if exited_at is None:
                            exited_at = now
                            kill()
                        elif now - exited_at > _DRAIN_SECONDS:
                            break
                    if pending_logs and now - last_logs >= _LOG_FLUSH_SECONDS:
                        on_event({"type": "logs", "lines": pending_logs})
                        pending_logs, last_logs = [], now
                    if pending_progress is not None and now - last_progress >= self._progress_interval:
                        on_event(pending_progress)
                        pending_progress, last_progress = None, now
                    check_limits(now)
                    wait = 0.1 if kill_reason is not None else min(0.1, max(0.01, deadline - now))
                    if pending_progress is not None:
                        wait = min(wait, self._progress_interval)
                    if pending_logs:
                        wait = min(wait, _LOG_FLUSH_SECONDS)
                    for key, _ in selector.select(wait):
                        fd = key.fd
                        try:
                            chunk = os.read(fd, _READ_CHUNK)
                        except BlockingIOError:
                            continue
                        if not chunk:
                            selector.unregister(fd)
                        lines = take_lines(fd, chunk)
                        if fd != events_r:
                            for raw in lines:
                                emit_log(streams[fd], raw)
                            continue
                        for raw in lines:
                            if kill_reason is not None and ("protocol" in kill_reason or "error_type" in kill_reason):
                                break
                            event = _parse_event(raw)
                            if event is None:
                                kill_reason = {
                                    "protocol": True,
                                    "error_type": "ProtocolError",
                                    "message": "the task process wrote something that is not a valid event "
                                    "on its event pipe: " + raw[:200].decode("utf-8", "replace"),
                                }
                                kill()
                            elif event["type"] == "progress":
                                pending_progress = event
                            elif event["type"] == "log":
                                emit_log("log", str(event.get("message", "")).encode())
                            elif event["type"] == "result":
                                if len(raw) > self._result_max_bytes:
                                    outcome.error = {
                                        "type": "ResultTooLarge",
                                        "message": f"the result is {len(raw)} bytes, over the "
                                        f"{self._result_max_bytes} byte limit",
                                    }
                                else:
                                    outcome.succeeded, outcome.result = True, event.get("result")
                            elif event["type"] == "error":
                                outcome.error = {
                                    "type": str(event.get("error_type", "Error")),
                                    "message": str(event.get("message", "")),
                                    "traceback": str(event.get("traceback", "")),
                                }
            finally:
                selector.close()
                for fd in (stdout_r, stderr_r, events_r):
                    os.close(fd)
            if pending_logs:
                on_event({"type": "logs", "lines": pending_logs})
            if pending_progress is not None:
                on_event(pending_progress)

            # The pipes are closed (the task may have closed them itself): cancel and the deadline still hold
            # until the process is gone.
            killed_at: float | None = None
            while True:
                try:
                    status = exit_future.result(timeout=0.1)
                    break
                except TimeoutError:
                    now = time.monotonic()
                    check_limits(now)
                    if kill_reason is not None:
                        killed_at = killed_at or now
                        if now - killed_at > _LOST_AFTER_KILL_SECONDS:
                            outcome.succeeded = False
                            outcome.error = {
                                "type": "RunnerLost",
                                "message": "the task process did not end after it was killed",
                            }
                            return outcome
                except Exception as exc:
                    outcome.succeeded = False
                    outcome.error = {"type": "RunnerLost", "message": f"the runner lost the task process: {exc}"}
                    return outcome
        finally:
            if not exit_future.done():
                kill()  # never leave a child running, whatever went wrong here
        outcome.exit_status = status
        if writer is not None:
            writer.join(timeout=1)
        return _conclude(outcome, status, kill_reason)


def _write_all(fd: int, payload: bytes) -> None:
    try:
        view = memoryview(payload)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    except OSError:
        pass  # the child died before reading its request; its exit status tells why
    finally:
        os.close(fd)


def _parse_event(raw: bytes | bytearray) -> dict[str, Any] | None:
    try:
        event = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("type") not in {"progress", "log", "result", "error"}:
        return None
    if event["type"] == "progress":
        try:
            event["percent"] = max(0, min(100, int(float(event.get("percent", 0)))))
        except (TypeError, ValueError):
            return None
        event["message"] = str(event.get("message", ""))[:1000]
    return event


_SIGNAL_REASONS: dict[int, tuple[str, str]] = {
    signal.SIGXCPU: ("CpuLimitExceeded", "the task used more CPU time than its limit"),
    signal.SIGKILL: ("Killed", "the task process was killed (SIGKILL), for example by the out-of-memory killer"),
    signal.SIGSEGV: ("Crashed", "the task process crashed (SIGSEGV)"),
}


def _conclude(outcome: Outcome, status: int, kill_reason: dict[str, Any] | None) -> Outcome:
    if kill_reason is not None:
        outcome.succeeded = False
        if kill_reason.get("cancelled"):
            outcome.cancelled = True
            outcome.error = None
        else:
            outcome.error = {"type": kill_reason["error_type"], "message": kill_reason["message"]}
        return outcome
    if outcome.succeeded and status == 0:
        return outcome
    outcome.succeeded = False
    if outcome.error is None:
        if status < 0:
            kind, message = _SIGNAL_REASONS.get(-status, ("Killed", f"the task process was ended by signal {-status}"))
            outcome.error = {"type": kind, "message": message}
        else:
            outcome.error = {
                "type": "ProcessExited",
                "message": f"the task process exited with status {status} without a result",
            }
    return outcome
