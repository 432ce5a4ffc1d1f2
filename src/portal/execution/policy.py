"""What confines a job, as settings and as a report: the isolation policy, the protections (each on or off, and
why), the system paths a task may read, the ports of the portal's own services no job may reach, and the errors
that refuse a job or a runner."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

# What a task may read besides its bundle: the system and the interpreter. Not the portal's data directory,
# not other jobs' scratch directories, not home directories, not the sockets under /run.
SYSTEM_READ_PATHS = (
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt",
    # From /etc only what programs need to resolve names, verify TLS and know users: not /etc/shadow, not
    # /etc/ssl/private.
    "/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/etc/ca-certificates", "/etc/pki/tls/certs", "/etc/pki/ca-trust",
    "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf", "/etc/passwd",
    "/etc/group", "/etc/localtime", "/etc/timezone", "/etc/os-release", "/etc/protocols", "/etc/services",
    "/etc/mime.types", "/etc/ld.so.cache", "/etc/alternatives", "/run/systemd/resolve",
)  # fmt: skip


DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


class IsolationUnavailable(RuntimeError):
    """PORTAL_JOB_ISOLATION=required, and a protection is not available on this machine."""


class NetworkRefused(Exception):
    """A job's declared network access reaches a port of the portal's own services."""


@dataclass(frozen=True)
class Protection:
    """One protection: on or off, and what it does or why it is off."""

    name: str
    on: bool
    detail: str


@dataclass(frozen=True)
class Policy:
    """The isolation settings a runner works with."""

    mode: str = "auto"
    uid_first: int = 200_000
    uid_last: int = 201_023
    max_processes: int = 64
    scratch_mb: int = 256
    blocked_ports: tuple[int, ...] = ()


def service_ports(urls: list[str], extra: list[int]) -> tuple[int, ...]:
    """The TCP ports of the portal's own services (database, Redis, broker, its API): no job may reach them."""
    defaults = {"postgresql": 5432, "redis": 6379, "rediss": 6379, "amqp": 5672, "amqps": 5671, "mysql": 3306}
    ports = set(extra)
    for url in urls:
        if not url or url.startswith("sqlite"):
            continue
        parts = urlsplit(url)
        scheme = parts.scheme.split("+")[0]
        try:
            port = parts.port
        except ValueError:
            port = None
        if port or scheme in defaults:
            ports.add(port or defaults[scheme])
    return tuple(sorted(p for p in ports if 0 < p < 65536))
