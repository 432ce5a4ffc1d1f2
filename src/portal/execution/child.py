"""The child side of the runner: confine a freshly forked process and run one task in it.

Standard library only, and nothing imported that a task does not need: every millisecond here is paid by every job.
The process that calls `start` has just been forked from the zygote, as the first process of a PID namespace of its
own when the kernel allows it (so every process the task starts dies with it); it never returns into the caller.

Protocol: fd 0 carries one JSON request; fd 3 carries JSON-line events, each one of
`{"type": "progress", "percent", "message"}`, `{"type": "log", "level", "message"}`,
`{"type": "result", "result"}` or `{"type": "error", "error_type", "message", "traceback"}` (an input that
`validate` rejected: `"rejected": true`, `error_type` "Rejected", no traceback, the `field` it named, if any, and
the `exception` class it raised). A request in mode
"validate" only calls `validate` (launch-time validation): its result is `{"validated": true}` when the module
has one. The task's own stdout and stderr (fds 1 and 2) are pipes the parent turns into log lines.
"""

from __future__ import annotations

import asyncio
import errno
import importlib.util
import inspect
import json
import os
import resource
import signal
import socket
import sys
import traceback
from typing import Any

from portal.execution.sandbox import jail, landlock, seccomp

EVENT_FD = 3
_MAX_TRACEBACK_FRAMES = 20
_BASE_SYS_PATH = [p for p in sys.path if "site-packages" not in p and "dist-packages" not in p]
_EXECUTABLE = os.path.realpath(sys.executable)  # the interpreter itself, not a virtualenv's link to it
# The seccomp filters every child installs, by name: "network" (jobs with network access), "local" (the rest).
_SECCOMP: dict[str, seccomp.Loaded] = {}


class CpuLimitExceeded(BaseException):
    """Raised in the task at the CPU soft limit (the first process of a PID namespace ignores a default SIGXCPU)."""


class Rejected(Exception):
    """`validate` refused the inputs: a ValueError (or any exception with a `field` attribute) it raised."""

    def __init__(self, message: str, field: str | None, exception: str) -> None:
        super().__init__(message)
        self.field = field
        self.exception = exception  # the class `validate` raised (item tests may expect it by name)


def prepare(seccomp_programs: dict[str, bytes | None]) -> None:
    """In the zygote: keep what every child installs."""
    _SECCOMP.clear()
    _SECCOMP.update({name: seccomp.Loaded(p) for name, p in seccomp_programs.items() if p})


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


def _cpu_limit(_signum: int, _frame: Any) -> None:
    raise CpuLimitExceeded("the task used more CPU time than its limit")


def _set_limits(limits: dict[str, Any]) -> None:
    mem = int(limits["memory_mb"]) * 1024 * 1024
    cpu = int(limits["cpu_seconds"])
    file_size = int(limits["file_size_mb"]) * 1024 * 1024
    # CPU: SIGXCPU at the soft limit (reported as such), SIGKILL a second later if the task ignores it.
    wanted = [
        (resource.RLIMIT_AS, mem, mem),
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_FSIZE, file_size, file_size),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    if limits.get("processes"):
        # Counted per uid: each job has a uid (or a user namespace) of its own, so this is a limit per job.
        wanted.append((resource.RLIMIT_NPROC, int(limits["processes"]), int(limits["processes"])))
    for which, soft, hard in wanted:
        _set_limit(which, soft, hard)


def _set_limit(which: int, soft: int, hard: int) -> None:
    ceiling = resource.getrlimit(which)[1]
    if ceiling != resource.RLIM_INFINITY:  # an unprivileged process cannot raise its hard limit
        soft, hard = min(soft, ceiling), min(hard, ceiling)
    resource.setrlimit(which, (soft, hard))


def _sandbox(spec: dict[str, Any], fds: list[int], alive_fd: int, made_netns: bool) -> None:
    """The pipes on fds 0-3; then the job's namespaces and private root, its own session, no privileges, limits,
    the parent-death signal, seccomp and Landlock; then the scratch directory and a scrubbed environment. The
    pipes come first, so any later failure can still be reported as an event."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target, inheritable=True)
    cell = spec.get("jail")
    if cell:
        jail.enter(cell, made_netns)
        jail.drop_privileges(cell)
    elif spec.get("isolate"):
        jail.drop_capabilities()
        jail.no_new_privileges()
    os.setsid()
    jail.die_with_zygote(alive_fd)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE, signal.SIGXCPU):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGXCPU, _cpu_limit)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write over the limit raises OSError instead of killing
    _set_limits(spec["limits"])
    confine = spec.get("landlock")
    if confine:
        landlock.restrict(
            prepared=confine["prepared"],
            paths=confine["paths"],
            connect_ports=confine.get("connect_ports"),
            any_port_except=confine.get("any_port_except"),
        )
    # After confinement, which used the descriptors the zygote keeps open. Every descriptor inherited is below
    # the open-files limit the zygote had (lifted for many slots): close up to it (one close_range call).
    os.closerange(4, min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 1 << 24))
    # Only now: until the close above the child holds what the zygote held (a descriptor for each running job),
    # and Landlock needs one more, above them all.
    _set_limit(resource.RLIMIT_NOFILE, int(spec["limits"]["open_files"]), int(spec["limits"]["open_files"]))
    if spec.get("seccomp"):
        if spec["seccomp"] not in _SECCOMP:
            raise OSError(errno.ENOSYS, "no seccomp filter for this architecture")
        _SECCOMP[spec["seccomp"]].install()
    os.umask(0o077)
    os.chdir(spec["workdir"])
    os.environ.clear()  # the job's own comes with its request
    sys.path[:] = [spec["bundle_dir"], *_BASE_SYS_PATH]
    sys.executable = _EXECUTABLE
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


def _validated(validate: Any, inputs: dict[str, Any]) -> Any:
    """Call the task's `validate`; what it rejects becomes `Rejected` (its other failures stay what they are)."""
    try:
        return _call(validate, inputs)
    except Exception as exc:
        field = getattr(exc, "field", None)
        if not isinstance(exc, ValueError) and field is None:
            raise
        message = (str(exc) or "the inputs were rejected")[:2000]
        raise Rejected(message, str(field)[:200] if field is not None else None, type(exc).__name__) from None


def _run_task(request: dict[str, Any], events: _Events) -> None:
    run, validate = _load(request["bundle_dir"], request["entrypoint"])
    inputs = request["inputs"]
    if request.get("mode") == "validate":
        if validate is not None:
            _validated(validate, inputs)
        events.write_line(json.dumps({"type": "result", "result": {"validated": validate is not None}}))
        return
    if validate is not None:
        cleaned = _validated(validate, inputs)
        if cleaned is not None:
            inputs = cleaned

    def progress_callback(percent: float = 0, message: str = "") -> _Done:
        try:
            number = float(percent)
        except (TypeError, ValueError):
            number = float("nan")
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"progress_callback: percent must be a number from 0 to 100, not {percent!r}")
        events.send({"type": "progress", "percent": number, "message": str(message)})
        return _DONE

    result = _call(run, inputs, progress_callback) if _wants_progress(run) else _call(run, inputs)
    try:
        payload = json.dumps({"type": "result", "result": result}, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
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


def _os_errors(exc: BaseException) -> list[OSError]:
    """`exc` and the exceptions it was raised from or during, where they are OSErrors."""
    found: list[OSError] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError):
            found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _job_processes() -> int:
    """How many processes the job has now (its own /proc shows its PID namespace only)."""
    try:
        return sum(1 for name in os.listdir("/proc") if name.isdigit())
    except OSError:
        return 0


def _limit_hit(exc: BaseException, spec: dict[str, Any]) -> tuple[str, str] | None:
    """The job limit behind a task's failure, when it was one: its scratch space or its process count."""
    if isinstance(exc, CpuLimitExceeded):
        return "CpuLimitExceeded", str(exc)
    cell = spec.get("jail")
    for error in _os_errors(exc):
        if error.errno in (errno.ENOSPC, errno.EDQUOT) and cell:
            return "ScratchFull", f"the job's scratch space ({cell['scratch_mb']} MB) is full: {error}"
        limit = spec["limits"].get("processes")
        if error.errno == errno.EAGAIN and limit and cell and _job_processes() >= int(limit) - 1:
            return "ProcessLimitExceeded", f"the job reached its limit of {limit} processes: {error}"
    return None


def wait_then_start(sock_fd: int, alive_fd: int, make_netns: bool) -> None:
    """A child forked ahead of its job (to keep the fork off the job's path): make its network namespace, wait
    for the spec and the pipes, then start as any child. Ends the process, never returns."""
    made_netns = False
    if make_netns:
        try:
            jail.own_network()
            made_netns = True
        except OSError:
            pass  # the job's own setup tries again, and reports why it cannot
    sock = socket.socket(fileno=sock_fd)
    try:
        data, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 8)
    except OSError:
        data, fds = b"", []
    if not data:
        os._exit(0)  # the zygote is gone, or let this one go
    sock.close()
    start(json.loads(data), fds, alive_fd, made_netns)


def start(spec: dict[str, Any], fds: list[int], alive_fd: int, made_netns: bool) -> None:
    """Entry point in the freshly forked child; ends the process, never returns."""
    code = 0
    try:
        try:
            _sandbox(spec, fds, alive_fd, made_netns)
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
        os.environ.update(request["env"])
        try:
            _run_task(request, events)
        except Rejected as exc:  # the user's input, not the task, is at fault: no traceback
            code = 1
            refusal = {"error_type": "Rejected", "message": str(exc), "field": exc.field, "exception": exc.exception}
            events.send({"type": "error", "rejected": True, **refusal})
        except BaseException as exc:  # the task's failure, whatever it is, becomes an error event
            code = 1
            tb = "".join(_task_traceback(exc, request["bundle_dir"]))[-8000:]
            error_type, text = _limit_hit(exc, spec) or (type(exc).__name__, str(exc) or type(exc).__name__)
            events.send({"type": "error", "error_type": error_type, "message": text, "traceback": tb})
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        code = 70
    finally:
        os._exit(code)


def probe(spec: dict[str, Any], report_fd: int, alive_fd: int) -> None:
    """In a child forked like a job: try each protection in turn and write what worked (and why not) as JSON on
    `report_fd`. Ends the process."""
    found: dict[str, Any] = {}

    def attempt(name: str, action: Any) -> bool:
        try:
            action()
            found[name] = [True, ""]
            return True
        except BaseException as exc:
            found[name] = [False, str(exc) or type(exc).__name__]
            return False

    try:
        first = os.getpid() == 1
        found["pid_namespace"] = [first, "" if first else "not the first process of a PID namespace"]
        cell = spec.get("jail")
        made_netns = False
        if cell:
            made_netns = attempt("network_namespace", jail.own_network)
            if not made_netns:
                cell = {**cell, "network": True}  # probe the rest of the jail without one
        if cell and attempt("jail", lambda: jail.enter(cell, made_netns)):
            found["jail_view"] = sorted(os.listdir("/"))
            attempt("drop_privileges", lambda: jail.drop_privileges(cell))
            found["uid"] = os.getuid()
        else:
            attempt("drop_privileges", jail.drop_capabilities)
            attempt("no_new_privs", jail.no_new_privileges)
        attempt("die_with_zygote", lambda: jail.die_with_zygote(alive_fd))
        # Opened before Landlock, which may not let it be opened afterwards (when jobs get no view of their own).
        status_fd = os.open("/proc/self/status", os.O_RDONLY | os.O_CLOEXEC)
        confine = spec.get("landlock")
        if confine:
            attempt(
                "landlock",
                lambda: landlock.restrict(
                    prepared=confine["prepared"],
                    paths=confine["paths"],
                ),
            )
        if "local" in _SECCOMP:
            attempt("seccomp", _SECCOMP["local"].install)
        found["status"] = jail.privilege_status(status_fd)  # what the kernel says holds, after all of it
    finally:
        try:
            os.write(report_fd, json.dumps(found).encode())
        finally:
            os._exit(0)
