"""Hostile tasks against every shape of the job sandbox: the embedded and the distributed executor, each with the
portal running as root and as an unprivileged user (created here when the tests run as root).

The attacks are items written here, imported through the API and launched by a plain requester, as an attacker
who may publish a `task.py` would have them run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import services
from tests.conftest import users_with_tokens
from tests.helpers import ROOT, PortalServer, WorkerProcess, distributed_env, wait_for_job, write

TEST_USER = "portal-sandbox-test"
SCRATCH_MB = 16
MAX_PROCESSES = 24

PROBE = '''
import ctypes
import errno
import fcntl
import os
import platform
import socket

LIBC = ctypes.CDLL(None, use_errno=True)
BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine(), -1)


def outcome(action):
    """"allowed", or how the attempt was refused (an errno name or an exception type)."""
    try:
        action()
    except OSError as exc:
        return errno.errorcode.get(exc.errno, type(exc).__name__)
    except Exception as exc:
        return type(exc).__name__
    return "allowed"


def libc(name, *args):
    def action():
        if getattr(LIBC, name)(*args) == -1:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
    return action


def tcp(port, protocol=0):
    def action():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM, protocol) as sock:
            sock.settimeout(3)
            sock.connect(("127.0.0.1", port))
    return action


def udp(port):
    def action():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"from a job", ("127.0.0.1", port))
    return action


def unix(path):
    def action():
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(3)
            sock.connect(path)
    return action


def read(path):
    def action():
        with open(path, "rb") as fh:
            fh.read(1)
    return action


def run(inputs):
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    return {
        "uid": os.getuid(),
        "pid": os.getpid(),
        "root": sorted(os.listdir("/")),
        "caps": {key: status[key].strip() for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")},
        "no_new_privs": status["NoNewPrivs"].strip(),
        "seccomp": status["Seccomp"].strip(),
        "calls": {
            "reboot": outcome(libc("reboot", 0)),
            "bpf": outcome(libc("syscall", BPF, 0, 0, 0)),
            "chroot": outcome(libc("chroot", b"/")),
            "mount": outcome(libc("mount", b"none", b"/tmp", b"tmpfs", 0, None)),
            "unshare": outcome(libc("unshare", 0x10000000)),
            "setuid_root": outcome(libc("setuid", 0)),
            "inotify": outcome(libc("inotify_init1", 0)),
            "grow_pipe": outcome(lambda: fcntl.fcntl(os.pipe()[1], 1031, 1 << 20)),  # F_SETPIPE_SZ
        },
        "cgroup": open("/proc/self/cgroup").read().split(),
        "sockets": {
            "packet": outcome(lambda: socket.socket(17, socket.SOCK_RAW, 0).close()),
            "raw": outcome(lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()),
            "netlink": outcome(lambda: socket.socket(16, socket.SOCK_RAW, 0).close()),
        },
        "ptrace": {str(pid): outcome(libc("ptrace", 16, pid, None, None)) for pid in inputs.get("pids", [])},
        "signal": {str(pid): outcome(lambda pid=pid: os.kill(pid, 0)) for pid in inputs.get("pids", [])},
        "environ": {str(pid): outcome(read(f"/proc/{pid}/environ")) for pid in inputs.get("pids", [])},
        "tcp": {str(port): outcome(tcp(port)) for port in inputs.get("ports", [])},
        "mptcp": {str(port): outcome(tcp(port, 262)) for port in inputs.get("ports", [])},
        "udp": {str(port): outcome(udp(port)) for port in inputs.get("udp_ports", [])},
        "interfaces": sorted(line.split(":")[0].strip() for line in list(open("/proc/net/dev"))[2:]),
        "unix": {path: outcome(unix(path)) for path in inputs.get("sockets", [])},
        "files": {path: outcome(read(path)) for path in inputs.get("files", [])},
        "write_scratch": outcome(lambda: open("/tmp/mine", "w").write("ok")),
    }
'''

HOLD_SECRET = """
import secrets
import subprocess
import time


def run(inputs, progress_callback):
    with open("secret.txt", "w") as fh:
        fh.write(inputs["secret"])
    marker = f"300.{secrets.randbelow(10**9):09d}"
    subprocess.Popen(["sleep", marker])
    progress_callback(10, f"sleeping {marker}")
    time.sleep(float(inputs.get("seconds", 120)))
    return {"held": True}
"""

# A grandchild that leaves the job's session and process group, double-forks and sleeps: the classic way out of a
# process-group kill. The task waits until it runs (so the tests know it was there), then ends as told.
ESCAPER = """
import os
import secrets
import subprocess
import sys
import time


def running(marker):
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if fh.read() == b"sleep\\0" + marker.encode() + b"\\0":
                    return True
        except OSError:
            pass
    return False


def run(inputs, progress_callback):
    marker = f"300.{secrets.randbelow(10**9):09d}"
    script = f"import os\\nos.setsid()\\nif os.fork() == 0:\\n    os.execvp('sleep', ['sleep', {marker!r}])\\n"
    subprocess.Popen([sys.executable, "-c", script]).wait()
    deadline = time.monotonic() + 10
    while not running(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    progress_callback(10, f"sleeping {marker}")
    if inputs.get("then") == "return":
        return {"marker": marker, "seen": running(marker)}
    time.sleep(600)
"""

FORK_BOMB = """
import os
import time


def run(inputs):
    forked = 0
    while forked < 100_000:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        forked += 1
    return {"forked": forked}
"""

MEMORY_SPREAD = """
import os
import time


def run(inputs):
    size = int(inputs["mb"]) * 1024 * 1024
    if int(inputs["processes"]) == 0:  # in the task's own process
        block = bytearray(size)
        block[::4096] = b"x" * len(block[::4096])
        return {"children": 0}
    children = []
    for _ in range(int(inputs["processes"])):
        pid = os.fork()
        if pid == 0:
            block = bytearray(size)
            block[::4096] = b"x" * len(block[::4096])  # touch every page: memory in use, not just reserved
            time.sleep(2)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    return {"children": len(children)}
"""

SCRATCH_FILLER = """
def run(inputs):
    written = 0
    with open("/tmp/fill.bin", "wb") as fh:
        while written < 10 * 1024:
            fh.write(b"x" * 1024 * 1024)
            fh.flush()
            written += 1
    return {"written_mb": written}
"""

LINK_PLANTER = """
import os


def run(inputs):
    # Links to a folder of the host, planted where the cleanup walks: it must remove the links, never follow them.
    os.makedirs("deep/er/still", exist_ok=True)
    os.symlink(inputs["victim"], "link")
    os.symlink(inputs["victim"], "deep/er/link")
    with open("deep/er/still/file", "w") as fh:
        fh.write("x")
    os.chmod("deep/er", 0o500)
    return {"planted": True}
"""

# A task that gives up its parent-death signal, then starts a grandchild that leaves its session: it bets on
# outliving its zygote.
IMMORTAL = ESCAPER.replace(
    "def run(inputs, progress_callback):",
    "def run(inputs, progress_callback):\n    import ctypes\n    ctypes.CDLL(None).prctl(1, 0)",
)

SECRET_HOLDER = """
import os


def run(inputs):
    return {"has_secret": bool(os.environ.get("SANDBOX_TEST_SECRET"))}
"""

# Looks through all of its own memory for what follows a prefix, and compares each candidate's hash with the one
# it was given: it never holds the value it looks for, so it cannot find itself.
MEMORY_SCANNER = """
import ctypes
import hashlib


def run(inputs):
    prefix, wanted, length = inputs["prefix"].encode(), inputs["sha256"], int(inputs["length"])
    seen = regions = 0
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            # Heap, stack and anonymous memory: where a copy of what the zygote once held would be.
            if not fields[1].startswith("r") or (len(fields) > 5 and fields[5] not in ("[heap]", "[stack]")):
                continue
            regions += 1
            data = ctypes.string_at(start, end - start)
            at = data.find(prefix)
            while at >= 0:
                seen += 1
                candidate = data[at : at + len(prefix) + length]
                if hashlib.sha256(candidate).hexdigest() == wanted:
                    return {"found": True, "seen": seen, "regions": regions}
                at = data.find(prefix, at + 1)
    return {"found": False, "seen": seen, "regions": regions}
"""

NAN_RESULT = """
def run(inputs):
    return {"x": float("nan")}
"""

NUL_ERROR = """
def run(inputs):
    print("a line with a \\x00 in it")
    raise ValueError("bad\\x00byte")
"""

OPEN_SCHEMA = '{"type": "object"}'


def items(listener_port: int, api_port: int) -> dict[str, tuple[str, str]]:
    """item id -> (extra manifest lines, task.py)."""
    return {
        "probe": ("", PROBE),
        "hold-secret": ("", HOLD_SECRET),
        "escaper": ("", ESCAPER),
        "escaper-timeout": ("timeout: 2\n", ESCAPER),
        "fork-bomb": ("", FORK_BOMB),
        "memory-spread": ("resources:\n  memory_mb: 256\n", MEMORY_SPREAD),
        "scratch-filler": ("", SCRATCH_FILLER),
        "link-planter": ("", LINK_PLANTER),
        "net-ports": (f"network:\n  tcp_ports: [{listener_port}]\n", PROBE),
        "net-any": ("network: true\n", PROBE),
        "net-blocked": (f"network:\n  tcp_ports: [{api_port}]\n", PROBE),
        "immortal": ("", IMMORTAL),
        "secret-holder": ("secrets: [SANDBOX_TEST_SECRET]\n", SECRET_HOLDER),
        "memory-scanner": ("", MEMORY_SCANNER),
        "nan-result": ("", NAN_RESULT),
        "nul-error": ("", NUL_ERROR),
    }


def write_catalog(root: Path, listener_port: int, api_port: int) -> Path:
    for item_id, (extra, task) in items(listener_port, api_port).items():
        write(
            root / "items" / item_id / "1.0.0",
            {
                "manifest.yaml": f"id: {item_id}\nname: {item_id}\nversion: 1.0.0\nentrypoint: task.py\n{extra}",
                "schema.json": OPEN_SCHEMA,
                "task.py": textwrap.dedent(task).lstrip(),
            },
        )
    return root


class Listener:
    """A TCP server and a UDP socket on the host's loopback that count what reaches them."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self.datagrams = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.datagrams.bind(("127.0.0.1", 0))
        self.datagrams.setblocking(False)
        self.udp_port = int(self.datagrams.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def received(self) -> int:
        """Datagrams that arrived (and are read now)."""
        count = 0
        with contextlib.suppress(BlockingIOError):
            while self.datagrams.recv(2048):
                count += 1
        return count

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        # The accepting thread is woken and gone before the descriptor is closed: one still in accept() when its
        # number went to the next module's listener took (and counted for itself) that listener's connections.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=10)
        self.sock.close()
        self.datagrams.close()


# --- the unprivileged user ----------------------------------------------------------------------------------------


@dataclass
class Identity:
    """Who a portal runs as, and the command that runs `portal` as them."""

    name: str
    uid: int
    command: list[str]
    base: Path  # a folder this identity may use (data directories, the catalog)
    cleanup: list[Path] = field(default_factory=list)


def _as_user(user: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _test_user_uid() -> int:
    """The uid of TEST_USER, created first if need be; under a lock, since parallel test runs (or workers) may
    find it missing at the same moment and the second `useradd` would fail."""
    fd = os.open(Path(tempfile.gettempdir()) / f"{TEST_USER}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            pwd.getpwnam(TEST_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
                check=True,
                capture_output=True,
            )
        return pwd.getpwnam(TEST_USER).pw_uid
    finally:
        os.close(fd)


def unprivileged_identity() -> Identity:
    """A user with no privilege, and a Python it can run the portal with (the interpreter of this virtualenv
    may live below root's home, which other users cannot enter)."""
    if os.geteuid() != 0:
        # Already unprivileged: the tests run the portal as this very user.
        base = Path(tempfile.mkdtemp(prefix="portal-unprivileged-"))
        return Identity(pwd.getpwuid(os.getuid()).pw_name, os.getuid(), [sys.executable, "-m", "portal.cli"], base)
    if shutil.which("setpriv") is None or shutil.which("useradd") is None:
        services.unavailable("setpriv and useradd are needed to run a portal as an unprivileged user")
    uid = _test_user_uid()
    base = Path(tempfile.mkdtemp(prefix="portal-unprivileged-", dir="/tmp"))
    base.chmod(0o755)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    interpreter = Path(f"/usr/bin/python{version}")
    site = Path(sys.prefix) / "lib" / f"python{version}" / "site-packages"
    source = ROOT / "src"
    if not interpreter.exists():
        services.unavailable(f"no system Python {version} ({interpreter}) that {TEST_USER} could run")
    for needed in (source, site):
        if _as_user(TEST_USER, "test", "-r", str(needed / "portal" if needed == source else needed)).returncode:
            services.unavailable(f"{TEST_USER} cannot read {needed} (the checkout must be readable by other users)")
    venv = base / "python"
    subprocess.run([str(interpreter), "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    pth = venv / "lib" / f"python{version}" / "site-packages" / "portal-tests.pth"
    pth.write_text(f"{source}\n{site}\n")
    command = [
        "setpriv",
        f"--reuid={TEST_USER}",
        f"--regid={TEST_USER}",
        "--clear-groups",
        "--inh-caps=-all",
        str(venv / "bin" / "python"),
        "-m",
        "portal.cli",
    ]
    return Identity(TEST_USER, uid, command, base)


def root_identity(base: Path) -> Identity:
    if os.geteuid() != 0:
        services.unavailable("the portal runs as root only when the tests do")
    return Identity("root", 0, [str(Path(sys.executable).parent / "portal")], base)


def owned_dir(identity: Identity, name: str) -> Path:
    path = identity.base / name
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and identity.uid != 0:
        os.chown(path, identity.uid, identity.uid)
    return path


# --- the portals ----------------------------------------------------------------------------------------------------


@dataclass
class Sandboxed:
    """One portal under attack: its API node, its worker (distributed), its tokens and the attack catalog."""

    executor: str
    identity: Identity
    api: PortalServer
    tokens: dict[str, str]
    listener: Listener
    worker: WorkerProcess | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def admin(self) -> httpx.Client:
        return self.api.client(self.tokens["admin"])

    @property
    def requester(self) -> httpx.Client:
        return self.api.client(self.tokens["req1"])

    @property
    def job_process_owner(self) -> PortalServer | WorkerProcess:
        """The process whose jobs these are (the API node embedded, the worker distributed)."""
        return self.worker or self.api

    def protections(self) -> dict[str, dict[str, Any]]:
        with self.admin as admin:
            nodes = admin.get("/api/admin/health/detailed").json()["nodes"]
        runners = [n for n in nodes if n["alive"] and n.get("isolation")]
        assert runners, nodes
        return {p["name"]: p for p in runners[0]["isolation"]}

    def run(self, item_id: str, inputs: dict[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
        """Launch as the plain requester and wait for the end."""
        with self.requester as client:
            created = client.post("/api/jobs", json={"item_id": item_id, "inputs": inputs or {}})
            assert created.status_code == 201, created.text
            return wait_for_job(client, created.json()["id"], {"SUCCEEDED", "FAILED", "CANCELLED"}, timeout=timeout)


def _env(identity: Identity, catalog: Path, extra: dict[str, str]) -> dict[str, str]:
    return {
        "PORTAL_CATALOG_LOCAL_ROOTS": str(catalog),
        "PORTAL_JOB_SCRATCH_MB": str(SCRATCH_MB),
        "PORTAL_JOB_MAX_PROCESSES": str(MAX_PROCESSES),
        "PORTAL_CATALOG_LOAD_EXAMPLES": "false",
        **extra,
    }


@contextlib.contextmanager
def sandboxed_portal(
    executor: str, identity: Identity, label: str = "main", extra: dict[str, str] | None = None
) -> Iterator[Sandboxed]:
    """A portal of `executor` run by `identity`, with the attack items imported; `label` keeps its folders apart."""
    listener = Listener()
    name = f"{executor}-{label}"
    catalog = owned_dir(identity, f"catalog-{name}")
    with contextlib.ExitStack() as stack:
        stack.callback(listener.close)
        if executor == "embedded":
            env = _env(identity, catalog, extra or {})
            api = PortalServer(owned_dir(identity, f"data-{name}-api"), env, identity.command)
            worker = None
        else:
            services.require("postgres", "redis")
            database = stack.enter_context(services.postgres_database())
            namespace = stack.enter_context(services.redis_namespace())
            env = _env(identity, catalog, {**distributed_env(database, namespace, services.REDIS_URL), **(extra or {})})
            api = PortalServer(owned_dir(identity, f"data-{name}-api"), env, identity.command)
            # Workers cannot know the API nodes' port: it is configured, as deploy/ does.
            env["PORTAL_JOB_BLOCKED_PORTS"] = api.env["PORTAL_JOB_BLOCKED_PORTS"] = str(api.port)
            worker = WorkerProcess(owned_dir(identity, f"data-{name}-worker"), env, identity.command)
        write_catalog(catalog, listener.port, api.port)
        subprocess.run(["chmod", "-R", "a+rX", str(catalog)], check=True)
        api.start()
        stack.callback(api.stop)
        if worker is not None:
            worker.start()
            stack.callback(worker.stop)
        tokens = users_with_tokens(api)
        with api.client(tokens["admin"]) as admin:
            imported = admin.post("/api/catalog/local/import", json={"path": str(catalog)})
            assert imported.status_code == 200, imported.text
        yield Sandboxed(executor, identity, api, tokens, listener, worker, env)


@pytest.fixture(scope="package")
def identities(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Identity]]:
    made: dict[str, Identity] = {}
    yield made
    for identity in made.values():
        shutil.rmtree(identity.base, ignore_errors=True)


def identity_for(kind: str, identities: dict[str, Identity]) -> Identity:
    if kind not in identities:
        identities[kind] = (
            root_identity(Path(tempfile.mkdtemp(prefix="portal-root-")))
            if kind == "root"
            else (unprivileged_identity())
        )
    return identities[kind]


@pytest.fixture(
    scope="package",
    params=[
        ("embedded", "root"),
        ("embedded", "unprivileged"),
        ("distributed", "root"),
        ("distributed", "unprivileged"),
    ],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def portal(request: pytest.FixtureRequest, identities: dict[str, Identity]) -> Iterator[Sandboxed]:
    executor, kind = request.param
    with sandboxed_portal(executor, identity_for(kind, identities)) as sandboxed:
        yield sandboxed


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `distributed_only` (messages between nodes) run against the distributed portals only."""
    keep = [item for item in items if not (item.get_closest_marker("distributed_only") and "[embedded-" in item.nodeid)]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep
