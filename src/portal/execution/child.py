"""The child side of the runner: sandbox a freshly forked process and run one task in it.

Standard library only, and nothing imported that a task does not need: every millisecond here is paid by every job.
The process that calls `start` has just been forked from the zygote; it never returns into the caller.

Protocol: fd 0 carries one JSON request; fd 3 carries JSON-line events, each one of
`{"type": "progress", "percent", "message"}`, `{"type": "log", "level", "message"}`,
`{"type": "result", "result"}` or `{"type": "error", "error_type", "message", "traceback"}`.
The task's own stdout and stderr (fds 1 and 2) are pipes the parent turns into log lines.
"""

from __future__ import annotations

import asyncio
import ctypes
import importlib.util
import inspect
import json
import os
import resource
import signal
import sys
import traceback
from typing import Any

EVENT_FD = 3
_PR_SET_PDEATHSIG = 1
_MAX_TRACEBACK_FRAMES = 20
_BASE_SYS_PATH = [p for p in sys.path if "site-packages" not in p and "dist-packages" not in p]
try:
    _LIBC: Any = ctypes.CDLL(None, use_errno=True)  # loaded once in the zygote, not in every child
except OSError:
    _LIBC = None


class _Events:
    """Writes JSON-line events on the dedicated pipe."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "w", encoding="utf-8", buffering=1)

    def send(self, event: dict[str, Any]) -> None:
        self._file.write(json.dumps(event, separators=(",", ":"), default=str) + "\n")
        self._file.flush()


class _Done:
    """What progress_callback returns: awaiting it is a no-op, and not awaiting it leaves no warning."""

    __slots__ = ()

    def __await__(self) -> Any:
        return iter(())


_DONE = _Done()


def _sandbox(spec: dict[str, Any], fds: list[int]) -> None:
    """Own session, parent-death signal, the pipes on fds 0-3, limits, scratch dir, scrubbed environment."""
    os.setsid()
    try:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except AttributeError:
        pass  # not Linux: the zygote still kills its children when it stops
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE, signal.SIGXCPU):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write over the limit raises OSError instead of killing
    for target, fd in enumerate(fds):
        os.dup2(fd, target, inheritable=True)
    os.closerange(len(fds), 65536)

    limits = spec["limits"]
    mem = int(limits["memory_mb"]) * 1024 * 1024
    cpu = int(limits["cpu_seconds"])
    # CPU: SIGXCPU at the soft limit (reported as such), SIGKILL a second later if the task ignores it.
    for which, soft, hard in (
        (resource.RLIMIT_AS, mem, mem),
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_FSIZE, int(limits["file_size_mb"]) * 1024 * 1024, int(limits["file_size_mb"]) * 1024 * 1024),
        (resource.RLIMIT_NOFILE, int(limits["open_files"]), int(limits["open_files"])),
        (resource.RLIMIT_CORE, 0, 0),
    ):
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            resource.setrlimit(which, (soft, resource.getrlimit(which)[1]))

    os.umask(0o077)
    os.chdir(spec["workdir"])
    os.environ.clear()
    os.environ.update(spec["env"])
    sys.path[:] = [spec["bundle_dir"], *_BASE_SYS_PATH]
    sys.dont_write_bytecode = True  # never leave __pycache__ in a development item's folder
    sys.argv[:] = ["task"]


def _load(bundle_dir: str, entrypoint: str) -> tuple[Any, Any]:
    """Return (run, validate) from an entrypoint `task.py`, `task.py:fn`, `task:run` or `pkg.module:fn`."""
    target, _, func_name = entrypoint.partition(":")
    func_name = func_name or "run"
    if target.endswith(".py"):
        path = os.path.join(bundle_dir, target)
        spec = importlib.util.spec_from_file_location(target[:-3].replace("/", "."), path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {target}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    run = getattr(module, func_name, None)
    if not callable(run):
        raise AttributeError(f"entrypoint {entrypoint!r} has no callable {func_name!r}")
    validate = getattr(module, "validate", None)
    return run, validate if callable(validate) else None


def _wants_progress(func: Any) -> bool:
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


def _call(func: Any, *args: Any) -> Any:
    value = func(*args)
    if inspect.isawaitable(value):
        return asyncio.run(_await(value))
    return value


async def _await(value: Any) -> Any:
    return await value


def _run_task(request: dict[str, Any], events: _Events) -> None:
    run, validate = _load(request["bundle_dir"], request["entrypoint"])
    inputs = request["inputs"]
    if validate is not None:
        cleaned = _call(validate, inputs)
        if cleaned is not None:
            inputs = cleaned

    def progress_callback(percent: float = 0, message: str = "") -> _Done:
        events.send({"type": "progress", "percent": percent, "message": str(message)})
        return _DONE

    result = _call(run, inputs, progress_callback) if _wants_progress(run) else _call(run, inputs)
    try:
        payload = json.dumps({"type": "result", "result": result}, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"the task's result is not JSON-serializable: {exc}") from None
    sys.stdout.flush()
    sys.stderr.flush()
    events._file.write(payload + "\n")
    events._file.flush()


def _task_traceback(exc: BaseException, bundle_dir: str) -> list[str]:
    """The traceback from the first frame in the task's own code (the runner's frames are noise to an author)."""
    tb = exc.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith(bundle_dir):
        tb = tb.tb_next
    return traceback.format_exception(type(exc), exc, tb or exc.__traceback__, limit=-_MAX_TRACEBACK_FRAMES)


def start(spec: dict[str, Any], fds: list[int]) -> None:
    """Entry point in the freshly forked child; ends the process, never returns."""
    code = 0
    try:
        _sandbox(spec, fds)
        sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)  # noqa: SIM115
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        events = _Events(EVENT_FD)
        request = json.loads(sys.stdin.read())
        try:
            _run_task(request, events)
        except BaseException as exc:  # the task's failure, whatever it is, becomes an error event
            code = 1
            tb = _task_traceback(exc, request["bundle_dir"])
            events.send(
                {
                    "type": "error",
                    "error_type": type(exc).__name__,
                    "message": str(exc) or type(exc).__name__,
                    "traceback": "".join(tb)[-8000:],
                }
            )
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        code = 70
    finally:
        os._exit(code)
