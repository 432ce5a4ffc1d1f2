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
import fcntl
import importlib.util
import inspect
import json
import os
import resource
import signal
import stat
import sys
import traceback
from typing import Any

EVENT_FD = 3
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
# Landlock (Linux 5.13+): the same syscall numbers on x86_64 and arm64.
_LANDLOCK_CREATE_RULESET, _LANDLOCK_ADD_RULE, _LANDLOCK_RESTRICT_SELF = 444, 445, 446
_LANDLOCK_RULE_PATH_BENEATH = 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_FS_EXECUTE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 2, 1 << 3
_FS_READ = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
_FS_FILE_RIGHTS = _FS_EXECUTE | (1 << 1) | _FS_READ_FILE | (1 << 14)  # EXECUTE, WRITE_FILE, READ_FILE, TRUNCATE
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
        self.write_line(json.dumps(event, separators=(",", ":"), default=str))

    def write_line(self, line: str) -> None:
        self._file.write(line + "\n")
        self._file.flush()


class _Done:
    """What progress_callback returns: awaiting it is a no-op, and not awaiting it leaves no warning."""

    __slots__ = ()

    def __await__(self) -> Any:
        return iter(())


_DONE = _Done()


def _sandbox(spec: dict[str, Any], fds: list[int], parent: int) -> None:
    """The pipes on fds 0-3, own session, parent-death signal, limits, file system confinement, scratch dir,
    scrubbed environment. The pipes come first, so any later failure can still be reported as an event."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target, inheritable=True)
    confine = spec.get("confine")
    if confine and not _confine(confine) and confine.get("required"):
        raise OSError("this kernel has no Landlock, and PORTAL_JOB_FILESYSTEM_SANDBOX=required")
    os.closerange(len(fds), 65536)  # after confinement: it used the descriptors the zygote keeps open
    os.setsid()
    try:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except AttributeError:
        pass  # not Linux: the zygote still kills its children when it stops
    if os.getppid() != parent:
        os._exit(72)  # the zygote died between our fork and the line above: nobody would stop us
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE, signal.SIGXCPU):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write over the limit raises OSError instead of killing

    limits = spec["limits"]
    mem = int(limits["memory_mb"]) * 1024 * 1024
    cpu = int(limits["cpu_seconds"])
    file_size = int(limits["file_size_mb"]) * 1024 * 1024
    # CPU: SIGXCPU at the soft limit (reported as such), SIGKILL a second later if the task ignores it.
    for which, soft, hard in (
        (resource.RLIMIT_AS, mem, mem),
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_FSIZE, file_size, file_size),
        (resource.RLIMIT_NOFILE, int(limits["open_files"]), int(limits["open_files"])),
        (resource.RLIMIT_CORE, 0, 0),
    ):
        ceiling = resource.getrlimit(which)[1]
        if ceiling != resource.RLIM_INFINITY:  # an unprivileged process cannot raise its hard limit
            soft, hard = min(soft, ceiling), min(hard, ceiling)
        resource.setrlimit(which, (soft, hard))

    os.umask(0o077)
    os.chdir(spec["workdir"])
    os.environ.clear()
    os.environ.update(spec["env"])
    sys.path[:] = [spec["bundle_dir"], *_BASE_SYS_PATH]
    sys.dont_write_bytecode = True  # never leave __pycache__ in a development item's folder
    sys.argv[:] = ["task"]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, or 0 when it has none."""
    if _LIBC is None:
        return 0
    _LIBC.syscall.restype = ctypes.c_long
    version = int(_LIBC.syscall(_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1)))
    return max(version, 0)


def _handled_rights(abi: int) -> int:
    handled = (1 << 13) - 1  # ABI 1: every file system right from EXECUTE to MAKE_SYM
    if abi >= 2:
        handled |= 1 << 13  # REFER
    if abi >= 3:
        handled |= 1 << 14  # TRUNCATE
    return handled


_abi: int | None = None
_handled = 0
# Rules for the system paths, built once in the zygote with their O_PATH descriptors kept open there (above
# fd 255, clear of the child's pipes); every child inherits them and only has to hand them to the kernel.
_prepared: dict[tuple[str, int], Any] = {}
_KEPT_FD_MIN = 256


def _rule(path: str, access: int, keep: bool) -> tuple[Any, int] | None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return None  # a system folder this machine does not have
    if keep:
        kept = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _KEPT_FD_MIN)
        os.close(fd)
        fd = kept
    allowed = access & _handled
    if not stat.S_ISDIR(os.fstat(fd).st_mode):
        allowed &= _FS_FILE_RIGHTS  # a rule on a file may only carry rights files have
    rule = (ctypes.c_uint8 * 12).from_buffer_copy(allowed.to_bytes(8, "little") + fd.to_bytes(4, "little", signed=True))
    return rule, fd


def prepare(confine: dict[str, Any] | None) -> None:
    """In the zygote, before forking: learn the Landlock ABI and describe the system paths, once."""
    global _abi, _handled
    if not confine:
        return
    if _abi is None:
        _abi = landlock_abi()
        _handled = _handled_rights(_abi)
    if _abi < 1:
        return
    for paths, access in ((confine["system_read"], _FS_READ), (confine["system_write"], _handled)):
        for path in paths:
            if (path, access) not in _prepared:
                _prepared[(path, access)] = _rule(path, access, keep=True)


def _confine(confine: dict[str, Any]) -> bool:
    """Allow the process to read (and execute) only below the read paths and to change files only below the
    write paths. Landlock applies to root too, and a confined task cannot open another process's memory.
    Returns False when the kernel has no Landlock."""
    prepare(confine)
    if not _abi:
        return False
    # ABI 6+: also scope signals and abstract unix sockets to the task's own domain, so it cannot signal (or
    # stop) the zygote, the worker or anything else outside. The network is not restricted here.
    scoped = _SCOPE_SIGNAL | _SCOPE_ABSTRACT_UNIX_SOCKET if _abi >= 6 else 0
    attr = (ctypes.c_uint64 * 3)(_handled, 0, scoped)
    size = 24 if scoped else 8
    ruleset = int(_LIBC.syscall(_LANDLOCK_CREATE_RULESET, attr, ctypes.c_size_t(size), ctypes.c_uint32(0)))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    opened: list[int] = []
    try:
        rules = [
            r
            for key in (
                *((p, _FS_READ) for p in confine["system_read"]),
                *((p, _handled) for p in confine["system_write"]),
            )
            if (r := _prepared.get(key))
        ]
        for paths, access in ((confine["read"], _FS_READ), (confine["write"], _handled)):
            for path in paths:
                found = _rule(path, access, keep=False)
                if found is not None:
                    rules.append(found)
                    opened.append(found[1])
        for rule, _fd in rules:
            if _LIBC.syscall(_LANDLOCK_ADD_RULE, ruleset, _LANDLOCK_RULE_PATH_BENEATH, rule, 0) < 0:
                raise OSError(ctypes.get_errno(), "landlock_add_rule failed")
        if _LIBC.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
        if _LIBC.syscall(_LANDLOCK_RESTRICT_SELF, ruleset, 0) < 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
        for fd in opened:
            os.close(fd)
    return True


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
    events.write_line(payload)


def _task_traceback(exc: BaseException, bundle_dir: str) -> list[str]:
    """The traceback from the first frame in the task's own code (the runner's frames are noise to an author)."""
    tb = exc.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith(bundle_dir):
        tb = tb.tb_next
    return traceback.format_exception(type(exc), exc, tb or exc.__traceback__, limit=-_MAX_TRACEBACK_FRAMES)


def start(spec: dict[str, Any], fds: list[int], parent: int) -> None:
    """Entry point in the freshly forked child; ends the process, never returns."""
    code = 0
    try:
        try:
            _sandbox(spec, fds, parent)
        except BaseException as exc:
            message = {
                "type": "error",
                "error_type": "SandboxError",
                "message": f"the job sandbox could not be set up: {exc}",
                "traceback": "",
            }
            os.write(EVENT_FD, (json.dumps(message) + "\n").encode())
            os._exit(71)
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
