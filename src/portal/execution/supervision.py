"""One run from the parent's side: the request written to the child's stdin, its output and events read and
throttled, cancel and the deadline enforced until the child is gone, and how the run ended worked out from all that."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from portal import values
from portal.execution.isolation import JobConfinement
from portal.execution.requests import Limits
from portal.execution.zygote_client import Exit
from portal.jobs.schemas import RunResult

_READ_CHUNK = 65536
_LOG_FLUSH_SECONDS = 0.2
_DRAIN_SECONDS = 1.0
_POLL_SECONDS = 0.1
_QUICK_POLL_FOR_SECONDS = 2.0
_SLOW_POLL_SECONDS = 0.5
_PIPE_BUFFER = 60_000  # Linux pipes hold 64 KiB by default
_EVENT_OVERHEAD = 65_536  # room for the JSON around a result of the largest allowed size
_LOST_AFTER_KILL_SECONDS = 10.0

EventCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class OutputLimits:
    """What a run may write: log lines (how many, how long), progress events per second, the result's size."""

    log_max_lines: int = 2000
    log_max_line_chars: int = 4000
    progress_interval: float = 0.1
    result_max_bytes: int = 1_048_576


class Supervision:
    """One run from the parent's side: the request on stdin, the child's output and events, cancel and the deadline
    enforced until the child is gone."""

    def __init__(
        self,
        output: OutputLimits,
        limits: Limits,
        kill: Callable[[], None],
        exit_future: Future[Exit],
        fds: tuple[int, int, int, int],
        on_event: EventCallback,
        cancel: threading.Event | None,
    ) -> None:
        self.output = output
        self.limits = limits
        self._kill = kill
        self.exit_future = exit_future
        self.stdin_w, self.stdout_r, self.stderr_r, self.events_r = fds
        self.on_event = on_event
        self.cancel = cancel
        self.outcome = RunResult()
        self.deadline = time.monotonic() + limits.timeout_seconds
        self.buffers: dict[int, bytearray] = {fd: bytearray() for fd in fds[1:]}
        self.streams = {self.stdout_r: "stdout", self.stderr_r: "stderr"}
        self.log_lines = 0
        self.pending_progress: dict[str, Any] | None = None
        self.pending_logs: list[dict[str, str]] = []
        self.kill_reason: dict[str, Any] | None = None
        self.event_cap = output.result_max_bytes + _EVENT_OVERHEAD
        self.log_cap = output.log_max_line_chars * 4

    def kill(self) -> None:
        if not self.exit_future.done():
            self._kill()

    def run(self, payload: bytes) -> RunResult:
        writer: threading.Thread | None = None
        if len(payload) < _PIPE_BUFFER:
            _write_all(self.stdin_w, payload)  # fits in the pipe buffer: never blocks
        else:
            writer = threading.Thread(target=_write_all, args=(self.stdin_w, payload), daemon=True)
            writer.start()
        try:
            try:
                self._read_until_exit()
            finally:
                for fd in self.buffers:
                    os.close(fd)
            if self.pending_logs:
                self.on_event({"type": "logs", "lines": self.pending_logs})
            if self.pending_progress is not None:
                self.on_event(self.pending_progress)
            ended = self._wait_for_exit()
        except BaseException:
            # Never leave a child running, whatever went wrong here; and its uid and cgroup go back only once
            # it is gone.
            self.kill()
            with contextlib.suppress(Exception):
                self.exit_future.result(timeout=_LOST_AFTER_KILL_SECONDS)
            raise
        if ended is None:
            return self.outcome
        self.outcome.exit_status = ended.status
        self.outcome.cpu_seconds = ended.cpu_seconds
        self.outcome.max_rss_bytes = ended.max_rss_kb * 1024
        if writer is not None:
            writer.join(timeout=1)
        return _conclude(self.outcome, ended, self.kill_reason, self.limits)

    def _check_limits(self, now: float) -> None:
        if self.exit_future.done():
            return  # it ended by itself: a late cancel or deadline must not rewrite how
        if self.kill_reason is not None:
            self.kill()  # again, until it is gone
            return
        if self.cancel is not None and self.cancel.is_set():
            self.kill_reason = {"cancelled": True}
            self.kill()
        if self.kill_reason is None and now >= self.deadline:
            self.kill_reason = {
                "error_type": "Timeout",
                "message": f"the task ran longer than its {self.limits.timeout_seconds:g} s limit",
            }
            self.kill()

    def _read_until_exit(self) -> None:
        selector = selectors.DefaultSelector()
        for fd in self.buffers:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        last_progress = last_logs = 0.0
        interval = self.output.progress_interval
        exited_at: float | None = None
        began = time.monotonic()
        try:
            while selector.get_map():
                now = time.monotonic()
                if self.exit_future.done():
                    # The task is gone, and the zygote killed whatever it left behind: read what is still
                    # buffered, for a moment at most.
                    if exited_at is None:
                        exited_at = now
                    elif now - exited_at > _DRAIN_SECONDS:
                        break
                if self.pending_logs and now - last_logs >= _LOG_FLUSH_SECONDS:
                    self.on_event({"type": "logs", "lines": self.pending_logs})
                    self.pending_logs, last_logs = [], now
                if self.pending_progress is not None and now - last_progress >= interval:
                    self.on_event(self.pending_progress)
                    self.pending_progress, last_progress = None, now
                self._check_limits(now)
                # The cancel flag and the deadline are looked at on each turn: often at first, when a cancel
                # most often comes, then less (a thousand long jobs each waking ten times a second cost a core).
                poll = _POLL_SECONDS if now - began < _QUICK_POLL_FOR_SECONDS else _SLOW_POLL_SECONDS
                wait = 0.1 if self.kill_reason is not None else min(poll, max(0.01, self.deadline - now))
                if self.pending_progress is not None:
                    wait = min(wait, interval)
                if self.pending_logs:
                    wait = min(wait, _LOG_FLUSH_SECONDS)
                for key, _ in selector.select(wait):
                    try:
                        chunk = os.read(key.fd, _READ_CHUNK)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        selector.unregister(key.fd)
                    self._take(key.fd, chunk)
        finally:
            selector.close()

    def _take(self, fd: int, chunk: bytes) -> None:
        lines = self._lines(fd, chunk)
        if fd != self.events_r:
            for raw in lines:
                self._log(self.streams[fd], raw)
            return
        for raw in lines:
            if self.kill_reason is not None and ("protocol" in self.kill_reason or "error_type" in self.kill_reason):
                break
            self._event(raw)

    def _lines(self, fd: int, chunk: bytes) -> list[bytes]:
        """The complete lines that `chunk` finishes. Only the new bytes are searched, and a partial line is
        bounded: a log line is cut, an event line over the result limit ends the task."""
        buf = self.buffers[fd]
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
        if fd == self.events_r and len(buf) > self.event_cap and self.kill_reason is None:
            self.kill_reason = {
                "error_type": "ResultTooLarge",
                "message": f"the task wrote an event larger than the {self.output.result_max_bytes} byte result limit",
            }
            self.kill()
            buf.clear()
        elif fd != self.events_r and len(buf) > self.log_cap:
            lines.append(bytes(buf))
            buf.clear()
        return lines

    def _log(self, stream: str, raw: bytes | bytearray) -> None:
        limit = self.output.log_max_lines
        if self.log_lines > limit:
            return
        self.log_lines += 1
        if self.log_lines > limit:
            line = f"[log truncated after {limit} lines]"
            stream = "system"
        else:
            line = _storable(raw.decode("utf-8", "replace").rstrip("\r")[: self.output.log_max_line_chars])
        self.pending_logs.append({"stream": stream, "line": line})

    def _event(self, raw: bytes) -> None:
        event = _parse_event(raw)
        if event is None:
            self.kill_reason = {
                "protocol": True,
                "error_type": "ProtocolError",
                "message": "the task process wrote something that is not a valid event on its event pipe: "
                + raw[:200].decode("utf-8", "replace"),
            }
            self.kill()
        elif event["type"] == "progress":
            self.pending_progress = event
        elif event["type"] == "log":
            self._log("log", str(event.get("message", "")).encode())
        elif event["type"] == "result":
            limit = self.output.result_max_bytes
            if len(raw) > limit:
                self.outcome.error = {
                    "type": "ResultTooLarge",
                    "message": f"the result is {len(raw)} bytes, over the {limit} byte limit",
                }
            else:
                result = _scrubbed(event.get("result"))
                unservable = values.problems(result, "result")
                if unservable:
                    self.outcome.error = {
                        "type": "ResultNotStorable",
                        "message": "; ".join(f"{p['field']} {p['message']}" for p in unservable)[:2000],
                    }
                else:
                    self.outcome.succeeded, self.outcome.result = True, result
        elif event["type"] == "error":
            self.outcome.error = {
                "type": _storable(str(event.get("error_type", "Error")))[:200],
                "message": _storable(str(event.get("message", ""))),
                "traceback": _storable(str(event.get("traceback", ""))),
            }
            if event.get("rejected") is True:  # the item's validate refused the inputs (not a run's own "Rejected")
                self.outcome.error["rejected"] = True
                self.outcome.error["exception"] = _storable(str(event.get("exception", "")))[:200]
                if event.get("field") is not None:
                    self.outcome.error["field"] = _storable(str(event["field"]))[:200]

    def _wait_for_exit(self) -> Exit | None:
        """The pipes are closed (the task may have closed them itself): cancel and the deadline still hold until
        the process is gone. None when it could not be waited for (the outcome says why)."""
        killed_at: float | None = None
        while True:
            try:
                return self.exit_future.result(timeout=0.1)
            except TimeoutError:
                now = time.monotonic()
                self._check_limits(now)
                if self.kill_reason is not None:
                    killed_at = killed_at or now
                    if now - killed_at > _LOST_AFTER_KILL_SECONDS:
                        self.outcome.succeeded = False
                        self.outcome.error = {
                            "type": "RunnerLost",
                            "message": "the task process did not end after it was killed",
                        }
                        return None
            except Exception as exc:
                self.outcome.succeeded = False
                self.outcome.error = {"type": "RunnerLost", "message": f"the runner lost the task process: {exc}"}
                return None


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


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _parse_event(raw: bytes | bytearray) -> dict[str, Any] | None:
    """An event line, or None when it is not one: not JSON (NaN and Infinity are not), nested beyond what can be
    read back, of an unknown type, or a progress whose percent is not a finite number."""
    try:
        event = json.loads(raw, parse_constant=_not_json)
    except (ValueError, RecursionError):
        return None
    if not isinstance(event, dict) or event.get("type") not in {"progress", "log", "result", "error"}:
        return None
    if event["type"] == "progress":
        try:
            event["percent"] = max(0, min(100, int(float(event.get("percent", 0)))))
        except (TypeError, ValueError, OverflowError):
            return None
        event["message"] = _storable(str(event.get("message", ""))[:1000])
    return event


_storable = values.text


def _scrubbed(value: Any) -> Any:
    """A result whose strings and keys every database takes (`values.text`); walked without recursion."""
    root = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        container, key = stack.pop()
        item = container[key]
        if isinstance(item, str):
            container[key] = _storable(item)
        elif isinstance(item, list):
            stack.extend((item, index) for index in range(len(item)))
        elif isinstance(item, dict):
            if any(isinstance(k, str) and _storable(k) != k for k in item):
                item = container[key] = {_storable(k): v for k, v in item.items()}
            stack.extend((item, k) for k in item)
    return root[0]


_SIGNAL_REASONS: dict[int, tuple[str, str]] = {
    signal.SIGXCPU: ("CpuLimitExceeded", "the task used more CPU time than its limit"),
    signal.SIGKILL: ("Killed", "the task process was killed (SIGKILL), for example by the out-of-memory killer"),
    signal.SIGSEGV: ("Crashed", "the task process crashed (SIGSEGV)"),
}


def _conclude(outcome: RunResult, ended: Exit, kill_reason: dict[str, Any] | None, limits: Limits) -> RunResult:
    status = ended.status
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
        if status == -signal.SIGKILL and ended.cpu_seconds >= limits.cpu_seconds:
            outcome.error = {"type": "CpuLimitExceeded", "message": "the task used more CPU time than its limit"}
        elif status < 0:
            kind, message = _SIGNAL_REASONS.get(-status, ("Killed", f"the task process was ended by signal {-status}"))
            outcome.error = {"type": kind, "message": message}
        else:
            outcome.error = {
                "type": "ProcessExited",
                "message": f"the task process exited with status {status} without a result",
            }
    return outcome


def with_usage(outcome: RunResult, run: JobConfinement, limits: Limits) -> RunResult:
    """What the job's cgroup saw. A job whose processes hit its memory or process limit failed, even where the
    task itself carried on (a process of it was killed, or could not start): the error names the limit."""
    usage = run.usage
    if outcome.cancelled or (outcome.error or {}).get("type") == "Timeout":
        return outcome
    if usage.oom_kills:
        outcome.succeeded, outcome.result = False, None
        outcome.error = {
            "type": "MemoryError",
            "message": f"the job's processes together used more than its {limits.memory_mb} MB of memory "
            f"({usage.oom_kills} killed)",
        }
    elif usage.process_limit_hits and (outcome.error or {}).get("type") != "ProcessLimitExceeded":
        outcome.succeeded, outcome.result = False, None
        outcome.error = {
            "type": "ProcessLimitExceeded",
            "message": "the job tried to run more processes at once than its limit allows",
        }
    return outcome
