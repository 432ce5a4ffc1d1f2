"""What each job is confined by: the policy from the settings, what this machine offers (from the zygote's probe and
our own cgroup and uid checks), the report of every protection with on/off and why, and each job's part of the spec.

`PORTAL_JOB_ISOLATION=required` refuses to run jobs unless every protection is on; `auto` runs with what there is
and says what is missing; `off` turns the kernel protections off (for measurements and debugging only).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portal.execution.cgroups import CgroupLease, JobCgroups, Usage
from portal.execution.policy import (
    DEVICES,
    SYSTEM_READ_PATHS,
    IsolationUnavailable,
    NetworkRefused,
    Policy,
    Protection,
)
from portal.execution.sandbox.jail import JOB_BUNDLE, JOB_SCRATCH
from portal.execution.sandbox.landlock import FS_ALL, FS_READ
from portal.execution.sandbox.seccomp import DENIED
from portal.execution.scratch import ScratchSpace
from portal.execution.uids import UidLease, UidPool

log = logging.getLogger(__name__)

# Without a private root, Landlock also lets a task read these machine-wide facts from /proc (its own /proc/self
# is added per job): other processes' entries, the worker's environment among them, stay out of sight.
_PROC_READ_PATHS = (
    "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/loadavg", "/proc/uptime", "/proc/version", "/proc/sys",
    "/proc/filesystems",
)  # fmt: skip
# A uid no job holds: the probe runs as it.
_PROBE_UID = 65534


@dataclass
class JobConfinement:
    """One run's share of the confinement: the spec for the child, and what must be given back afterwards."""

    spec: dict[str, Any]
    bundle_dir: str
    workdir: str
    owner: Isolation | None = None
    uid: UidLease | None = None
    cgroup: CgroupLease | None = None
    host_workdir: Path | None = None
    usage: Usage = field(default_factory=Usage)

    def finish(self, clean: bool = True) -> None:
        """After the job: read its cgroup and give back its uid and cgroup for the next job. `clean` says that
        every process of the job is gone; if not, both are retired rather than shared with another job."""
        if self.cgroup is not None:
            self.usage = self.cgroup.finish(clean)
            self.cgroup = None
        if self.uid is not None:
            if self.owner is None:
                self.uid.release()
            elif clean:
                self.owner.give_back(self.uid)
            else:
                self.owner.retire(self.uid)
            self.uid = None


class Isolation:
    """The parent side of job confinement for one runner (and its zygote)."""

    def __init__(self, policy: Policy, scratch_root: Path) -> None:
        self.policy = policy
        self.scratch = ScratchSpace(scratch_root)
        self.root = scratch_root / ".jail"  # where the zygote mounts the jobs' root, in its own namespace only
        self.root.mkdir(mode=0o755, exist_ok=True)
        self._hello: dict[str, Any] = {}
        self._uids: UidPool | None = None
        self._uid_reason = ""
        # Uids this runner holds between jobs (held uids are never another process's), and those it retired
        # because a job's processes might outlive it: both stay held until the runner stops.
        self._held: list[UidLease] = []
        self._retired: list[UidLease] = []
        self._uid_lock = threading.Lock()
        self._cgroups: JobCgroups | None = None
        self.protections: list[Protection] = []
        if policy.mode == "off":
            return
        if os.geteuid() == 0:
            try:
                self._uids = UidPool(policy.uid_first, policy.uid_last)
            except OSError as exc:
                self._uid_reason = f"cannot keep track of job uids: {exc}"
        self._cgroups = JobCgroups()

    # -- the zygote ---------------------------------------------------------------------------------------------

    def zygote_config(self) -> dict[str, Any]:
        """What the zygote prepares once: the jobs' root and the probe of every protection."""
        prefix = os.path.realpath(sys.base_prefix)
        read = [*SYSTEM_READ_PATHS, prefix, os.path.dirname(os.path.realpath(sys.executable))]
        probe_jail: dict[str, Any] = {"root": str(self.root), "bundle": prefix, "scratch_mb": 1, "network": False}
        probe_jail.update(self._identity(_PROBE_UID))
        return {
            "isolation": self.policy.mode,
            "root": str(self.root),
            "read_paths": read,
            "devices": list(DEVICES),
            "probe": {
                "jail": probe_jail,
                "landlock": {"prepared": self._jail_rules(), "paths": [[JOB_SCRATCH, FS_ALL]]},
            },
        }

    def _identity(self, uid: int) -> dict[str, int]:
        if os.geteuid() == 0:
            return {"uid": uid, "gid": uid}
        return {"outer_uid": os.getuid(), "outer_gid": os.getgid()}

    def _jail_rules(self) -> list[list[Any]]:
        return [[str(self.root), FS_READ], *([d, FS_ALL] for d in DEVICES)]

    def _host_rules(self) -> list[list[Any]]:
        prefix = os.path.realpath(sys.base_prefix)
        read = [*SYSTEM_READ_PATHS, *_PROC_READ_PATHS, prefix, os.path.dirname(os.path.realpath(sys.executable))]
        return [*([p, FS_READ] for p in read), *([d, FS_ALL] for d in DEVICES)]

    def accept(self, hello: dict[str, Any]) -> None:
        """The zygote's report: work out each protection. A zygote started again (the last one died) must give
        the jobs every protection the first one did: IsolationUnavailable otherwise, and the jobs fail rather than
        run less confined than the portal said they would (under `required`, every protection, every time)."""
        before, first = self._hello, not self._hello
        self._hello = hello
        protections = self._report()
        lost = [p for p in self.protections if p.on and not any(q.name == p.name and q.on for q in protections)]
        if not first and (lost or (self.policy.mode == "required" and any(not p.on for p in protections))):
            self._hello = before
            listing = "; ".join(f"{p.name}: {p.detail}" for p in (lost or [p for p in protections if not p.on]))
            log.error("job isolation: a restarted sandbox lacks what the first one had: %s", listing)
            raise IsolationUnavailable(f"the job sandbox, started again, lacks: {listing}")
        self.protections = protections

    @property
    def _probe(self) -> dict[str, Any]:
        probe: dict[str, Any] = self._hello.get("probe") or {}
        return probe

    def _works(self, key: str) -> tuple[bool, str]:
        found = self._probe.get(key) or self._hello.get(key)
        if not found:
            return False, str(self._probe.get("error") or "not tried")
        return bool(found[0]), str(found[1])

    @property
    def jailed(self) -> bool:
        """Jobs get their own namespaces and private root (it needs PID namespaces too: see `JobCgroups`)."""
        return self._works("template")[0] and self._works("jail")[0] and self._works("pid_namespace")[0]

    @property
    def own_network(self) -> bool:
        """Jobs without network get a network namespace of their own (only a loopback)."""
        return self.jailed and self._works("network_namespace")[0]

    @property
    def seccomp(self) -> bool:
        return self._works("seccomp")[0] and (self._probe.get("status") or {}).get("Seccomp") == 2

    @property
    def landlock_abi(self) -> int:
        return int(self._hello.get("landlock_abi", 0)) if self._works("landlock")[0] else 0

    def _report(self) -> list[Protection]:
        p = self.policy
        if p.mode == "off":
            return [Protection("isolation", False, "PORTAL_JOB_ISOLATION=off: jobs run with the portal's privileges")]
        jail_ok, jail_why = self._works("jail")
        template_ok, template_why = self._works("template")
        pid_ok, pid_why = self._works("pid_namespace")
        view_why = template_why if not template_ok else jail_why if not jail_ok else pid_why
        status = self._probe.get("status") or {}
        caps = {k: v for k, v in status.items() if k.startswith("Cap")}
        caps_ok = bool(caps) and not any(caps.values()) and self._works("drop_privileges")[0]
        no_new_privs = status.get("NoNewPrivs") == 1
        root = os.geteuid() == 0
        if root and self.jailed and self._uids is not None:
            user = Protection("uid", True, f"each job runs as a uid of its own ({p.uid_first}-{p.uid_last}), not root")
        elif root:
            why = self._uid_reason or f"needs a private file system view ({view_why})"
            user = Protection("uid", False, f"jobs run as root (without capabilities): {why}")
        elif self.jailed:
            user = Protection("uid", True, f"jobs run as the portal's uid {os.getuid()}, each in a user namespace")
        else:
            user = Protection("uid", True, f"jobs run as the portal's uid {os.getuid()} (not root)")
        per_job_uid = self.jailed and (not root or self._uids is not None)
        cgroups = self._cgroups
        abi = self.landlock_abi
        seccomp_names = sorted({n for names in DENIED.values() for n in names})
        landlock_why = self._works("landlock")[1]
        return [
            user,
            Protection("capabilities", caps_ok, "none in any set" if caps_ok else f"still held: {caps or 'unknown'}"),
            Protection(
                "no_new_privs",
                no_new_privs,
                "no set-uid program or file capability can raise privileges" if no_new_privs else "not set",
            ),
            Protection(
                "seccomp",
                self.seccomp,
                f"{len(seccomp_names)} system calls refused (reboot, mount, bpf, ptrace, ...), no raw or packet "
                "sockets, no UDP without network"
                + ("; what the kernel counts per user (inotify, pipe sizes) too" if os.geteuid() != 0 else "")
                if self.seccomp
                else self._works("seccomp")[1] or str(self._hello.get("seccomp_filter", ["", ""])[1]),
            ),
            Protection("pid_namespace", pid_ok, "every process of a job ends with it" if pid_ok else pid_why),
            Protection(
                "filesystem_view",
                self.jailed,
                "a private root: system folders, the interpreter, its bundle (read-only) and its scratch space"
                if self.jailed
                else view_why,
            ),
            Protection(
                "scratch_limit",
                self.jailed,
                f"{p.scratch_mb} MB of scratch space per job" if self.jailed else "needs the private file system view",
            ),
            Protection(
                "network_namespace",
                self.own_network,
                "no network unless the item declares it and an admin allows it"
                if self.own_network
                else (self._works("network_namespace")[1] if self.jailed else "needs the private file system view")
                + ("; TCP is closed to jobs by Landlock instead" if abi >= 4 else ""),
            ),
            Protection("landlock", abi >= 1, f"Landlock ABI {abi}: files" if abi else landlock_why or "no Landlock"),
            Protection(
                "network_ports",
                abi >= 4,
                "jobs with network access reach only their ports, never the portal's own services"
                if abi >= 4
                else "needs Landlock ABI 4",
            ),
            Protection(
                "signal_scoping",
                abi >= 6,
                "no signals or abstract sockets outside the job" if abi >= 6 else "needs Landlock ABI 6",
            ),
            Protection(
                "process_limit",
                per_job_uid or bool(cgroups and cgroups.available),
                f"at most {p.max_processes} processes per job"
                + (
                    f" (cgroup {cgroups.version})"
                    if cgroups and cgroups.available
                    else " (RLIMIT_NPROC of the job's own uid)"
                    if root
                    else " (RLIMIT_NPROC of the job's own user namespace)"
                )
                if per_job_uid or (cgroups and cgroups.available)
                else "no uid or cgroup of the job's own",
            ),
            Protection(
                "memory_limit",
                bool(cgroups and cgroups.available and self.jailed),
                f"memory summed over a job's processes (cgroup {cgroups.version})"
                if cgroups and cgroups.available and self.jailed
                else "per process only: " + (cgroups.reason if cgroups else "off"),
            ),
        ]

    def missing(self) -> list[Protection]:
        return [p for p in self.protections if not p.on]

    def check(self) -> None:
        """Log what is missing; under `required`, refuse."""
        missing = self.missing()
        if not missing:
            return
        listing = "; ".join(f"{p.name}: {p.detail}" for p in missing)
        if self.policy.mode == "required":
            raise IsolationUnavailable(f"PORTAL_JOB_ISOLATION=required, but this machine lacks: {listing}")
        if self.policy.mode != "off":
            log.warning("job isolation: running without %s", listing)

    # -- each job -----------------------------------------------------------------------------------------------

    def confine(self, job_id: int, bundle_dir: str, memory_mb: int, network: dict[str, Any] | None) -> JobConfinement:
        """The spec pieces for one run. NetworkRefused when its network access would reach the portal itself."""
        connect, any_except = self._network_rules(network)
        if self.policy.mode == "off":
            workdir = self.scratch.new_dir(job_id)
            return JobConfinement(spec={}, bundle_dir=bundle_dir, workdir=str(workdir), host_workdir=workdir)
        # Jobs without network get no IP datagram sockets either (see seccomp.filter_program).
        variant = "local" if network is None else "network"
        spec: dict[str, Any] = {"isolate": True, "seccomp": variant if self.seccomp else False}
        landlock: dict[str, Any] | None = None
        if self.jailed:
            run = JobConfinement(spec=spec, bundle_dir=JOB_BUNDLE, workdir=JOB_SCRATCH, owner=self)
            cell: dict[str, Any] = {
                "root": str(self.root),
                "bundle": bundle_dir,
                "scratch_mb": self.policy.scratch_mb,
                "network": network is not None or not self.own_network,
            }
            try:
                if os.geteuid() == 0 and self._uids is not None:
                    run.uid = self._uid()
                    cell.update(uid=run.uid.uid, gid=run.uid.gid)
                elif os.geteuid() != 0:
                    cell.update(self._identity(0))
                if self._cgroups is not None and self._cgroups.available:
                    run.cgroup = self._cgroups.lease(memory_mb, self.policy.max_processes)
                    cell["cgroups"] = run.cgroup.procs
            except BaseException:
                run.finish()
                raise
            spec["jail"] = cell
            if "uid" in cell or "outer_uid" in cell:
                # One above the cgroup's limit when there is one, so that the cgroup is what refuses a fork, and
                # counts it (a task that carries on after a refused fork is still reported over its limit).
                spec["processes"] = self.policy.max_processes + (1 if run.cgroup is not None else 0)
            if self.landlock_abi:
                landlock = {"prepared": self._jail_rules(), "paths": [[JOB_SCRATCH, FS_ALL]]}
        else:
            workdir = self.scratch.new_dir(job_id)
            run = JobConfinement(spec=spec, bundle_dir=bundle_dir, workdir=str(workdir), host_workdir=workdir)
            if self.landlock_abi:
                landlock = {
                    "prepared": self._host_rules(),
                    "paths": [[bundle_dir, FS_READ], ["/proc/self", FS_READ], [str(workdir), FS_ALL]],
                }
        if landlock is not None and (connect is not None or any_except is not None):
            if self.landlock_abi < 4:
                if self.policy.mode == "required":
                    run.finish()
                    raise NetworkRefused("this kernel cannot keep a job with network access from the portal's ports")
            else:
                landlock["connect_ports"] = connect
                landlock["any_port_except"] = any_except
        spec["landlock"] = landlock
        return run

    def _network_rules(self, network: dict[str, Any] | None) -> tuple[list[int] | None, list[int] | None]:
        """(ports it may connect to, or None) and (ports it may not, when it may use any other). A job without
        network that shares the host's network (no namespace of its own here) may connect to no TCP port."""
        if network is None:
            return ([], None) if not self.own_network else (None, None)
        blocked = list(self.policy.blocked_ports)
        ports = network.get("tcp_ports")
        if ports is None:
            return None, blocked
        clash = sorted(set(ports) & set(blocked))
        if clash:
            raise NetworkRefused(
                f"port(s) {', '.join(map(str, clash))} belong to the portal's own services, which no job may reach"
            )
        return sorted(ports), None

    def _uid(self) -> UidLease:
        assert self._uids is not None
        with self._uid_lock:
            if self._held:
                return self._held.pop()
        return self._uids.acquire()

    def give_back(self, lease: UidLease) -> None:
        with self._uid_lock:
            self._held.append(lease)

    def retire(self, lease: UidLease) -> None:
        with self._uid_lock:
            self._retired.append(lease)

    def close(self) -> None:
        with self._uid_lock:
            for lease in [*self._held, *self._retired]:
                lease.release()
            self._held, self._retired = [], []
        if self._uids is not None:
            self._uids.close()
        if self._cgroups is not None:
            self._cgroups.close()
        self.scratch.close()
