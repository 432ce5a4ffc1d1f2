"""Parse and check `manifest.yaml`: required fields, types, unknown keys (with their line), id pattern, semver."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import nodesemver
import semver
import yaml

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}\Z")
ENTRYPOINT_RE = re.compile(r"^([A-Za-z0-9_./-]+\.py(:[A-Za-z_]\w*)?|[A-Za-z_][\w.]*:[A-Za-z_]\w*)\Z")
REQUIRED = ("id", "name", "version", "entrypoint")
_STR = (str,)
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "id": _STR,
    "name": _STR,
    "version": _STR,
    "entrypoint": _STR,
    "displayName": _STR,
    "description": _STR,
    "category": _STR,
    "tags": (list,),
    "owner": _STR,
    "author": _STR,
    "timeout": (int,),
    "approval": (dict,),
    "secrets": (list,),
    "dependencies": (list, dict),
    "resources": (dict,),
    "deprecated": (bool, str),
    "queue": _STR,
    "priority": (int,),
    "idempotent": (bool,),
    "network": (bool, dict),
    "validate_at_launch": (bool,),
}
RESOURCE_KEYS = {"memory_mb", "cpu_seconds"}
APPROVAL_KEYS = {"approvers", "count", "timeout"}
ROLE_NAMES = ("viewer", "requester", "operator", "publisher", "admin")
SECRET_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}\Z")
DURATION_RE = re.compile(r"^(\d+)\s*([smhd]?)\Z")
DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_APPROVAL_TIMEOUT = 24 * 3600
MAX_TIMEOUT = 7 * 24 * 3600
QUEUE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}\Z")
MAX_PRIORITY = 9


def deprecation_note(manifest: dict[str, Any]) -> str | None:
    """Why a version is deprecated (`deprecated: true` or a message in its manifest), or None when it is not."""
    value = manifest.get("deprecated")
    if value is True:
        return "deprecated"
    return value if isinstance(value, str) and value.strip() else None


NETWORK_KEYS = {"tcp_ports"}
MAX_TCP_PORTS = 64


def network_need(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The network access a checked manifest declares: None (none, the default), {} (`network: true`: any TCP port
    but the portal's own services) or {"tcp_ports": [...]} (only those outbound TCP ports)."""
    value = manifest.get("network")
    if value is True:
        return {}
    if isinstance(value, dict):
        return {"tcp_ports": sorted(set(value["tcp_ports"]))} if "tcp_ports" in value else {}
    return None


def _network_problems(network: Any, file: str, line: int | None) -> list[Problem]:
    if not isinstance(network, dict):
        return []
    problems = [Problem(file, f"unknown key 'network.{key}'", line) for key in network if key not in NETWORK_KEYS]
    ports = network.get("tcp_ports")
    if "tcp_ports" in network and not (
        isinstance(ports, list)
        and 0 < len(ports) <= MAX_TCP_PORTS
        and all(isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 65535 for p in ports)
    ):
        problems.append(
            Problem(file, f"'network.tcp_ports' must be a list of 1 to {MAX_TCP_PORTS} TCP ports (1-65535)", line)
        )
    return problems


def parse_dependencies(value: Any) -> tuple[list[tuple[str, str]], list[str]]:
    """The items a version depends on, as (item id, semver range) pairs, and what is wrong with the list.

    Either a mapping `{other-item: ">=1.2 <2"}` or a list of `other-item`, `other-item@^1.2` or
    `{id: other-item, version: "^1.2"}`; no range means any version.
    """
    entries: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        entries = list(value.items())
    elif isinstance(value, list):
        for entry in value:
            if isinstance(entry, str):
                name, _, wanted = entry.partition("@")
                entries.append((name, wanted or "*"))
            elif isinstance(entry, dict) and set(entry) <= {"id", "version"}:
                entries.append((entry.get("id"), entry.get("version", "*")))
            else:
                entries.append((entry, None))
    found: list[tuple[str, str]] = []
    problems: list[str] = []
    for name, wanted in entries:
        if not isinstance(name, str) or not ID_RE.match(name):
            problems.append(f"dependency {name!r} is not an item id")
        elif wanted is not None and not isinstance(wanted, str):
            problems.append(f"dependency {name}: the version range must be text like ^1.2 or >=1.0 <2")
        elif nodesemver.valid_range(wanted or "*", loose=False) is None:
            problems.append(f"dependency {name}: {wanted!r} is not a semver range")
        else:
            found.append((name, (wanted or "*").strip() or "*"))
    return found, problems


def duration_seconds(value: Any) -> int | None:
    """Seconds of a duration given as an integer or as text like `90`, `30m`, `24h`, `2d`; None when invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str):
        match = DURATION_RE.match(value.strip())
        if match and int(match.group(1)) > 0:
            return int(match.group(1)) * DURATION_UNITS[match.group(2)]
    return None


def approval_policy(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The normalized approval policy of a checked manifest: `{approvers: {role} | {users}, count, timeout}`."""
    approval = manifest.get("approval")
    if not isinstance(approval, dict):
        return None
    approvers = approval.get("approvers", "admin")
    who = {"role": approvers} if isinstance(approvers, str) else {"users": list(approvers)}
    timeout = duration_seconds(approval.get("timeout", DEFAULT_APPROVAL_TIMEOUT)) or DEFAULT_APPROVAL_TIMEOUT
    return {"approvers": who, "count": int(approval.get("count", 1)), "timeout": timeout}


def _approval_problems(approval: Any, file: str, line: int | None) -> list[Problem]:
    if not isinstance(approval, dict):
        return []
    problems = [Problem(file, f"unknown key 'approval.{key}'", line) for key in approval if key not in APPROVAL_KEYS]
    approvers = approval.get("approvers", "admin")
    if isinstance(approvers, str):
        if approvers not in ROLE_NAMES:
            problems.append(Problem(file, f"'approval.approvers' role must be one of {', '.join(ROLE_NAMES)}", line))
    elif not (isinstance(approvers, list) and approvers and all(isinstance(u, str) and u for u in approvers)):
        problems.append(Problem(file, "'approval.approvers' must be a role name or a list of usernames", line))
    count = approval.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        problems.append(Problem(file, "'approval.count' must be a positive integer", line))
    elif isinstance(approvers, list) and count > len(approvers):
        problems.append(Problem(file, "'approval.count' is more than the approvers listed", line))
    if "timeout" in approval and duration_seconds(approval["timeout"]) is None:
        problems.append(Problem(file, "'approval.timeout' must be seconds or a duration like 30m, 24h, 2d", line))
    return problems


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an item: the file, the line where known, and what."""

    file: str
    message: str
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message}


def parse_version(text: str) -> semver.Version | None:
    try:
        return semver.Version.parse(text)
    except (ValueError, TypeError):
        return None


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it: ~10x faster


def _key_lines(node: yaml.Node | None) -> dict[str, int]:
    """Line (1-based) of each top-level key, for error messages."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


def parse_manifest(text: str, file: str = "manifest.yaml") -> tuple[dict[str, Any], list[Problem]]:
    """Return the manifest and every problem found in it (YAML is parsed once, keeping key lines)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return {}, [
            Problem(file, f"invalid YAML: {getattr(exc, 'problem', exc)}", mark.line + 1 if mark is not None else None)
        ]
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        return {}, [Problem(file, "the manifest must be a mapping of keys to values", 1)]
    lines = _key_lines(node)
    problems: list[Problem] = []
    for key in data:
        if key not in FIELD_TYPES:
            problems.append(Problem(file, f"unknown key {key!r}", lines.get(str(key))))
    for key in REQUIRED:
        if key not in data or data[key] in (None, ""):
            problems.append(Problem(file, f"missing required key {key!r}"))
    for key, types in FIELD_TYPES.items():
        value = data.get(key)
        if value is None or key not in data:
            continue
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            names = " or ".join("list" if t is list else "mapping" if t is dict else t.__name__ for t in types)
            problems.append(Problem(file, f"{key!r} must be a {names}", lines.get(key)))
    if isinstance(data.get("id"), str) and not ID_RE.match(data["id"]):
        problems.append(
            Problem(
                file,
                "'id' must be 2-63 lowercase letters, digits or '-', starting with a letter or digit",
                lines.get("id"),
            )
        )
    if isinstance(data.get("version"), str) and parse_version(data["version"]) is None:
        problems.append(
            Problem(file, f"'version' {data['version']!r} is not a semantic version (1.2.3)", lines.get("version"))
        )
    if isinstance(data.get("entrypoint"), str) and not ENTRYPOINT_RE.match(data["entrypoint"]):
        problems.append(
            Problem(
                file, "'entrypoint' must be 'task.py', 'task.py:function' or 'module:function'", lines.get("entrypoint")
            )
        )
    if isinstance(data.get("tags"), list) and not all(isinstance(t, str) for t in data["tags"]):
        problems.append(Problem(file, "'tags' must be a list of strings", lines.get("tags")))
    timeout = data.get("timeout")
    if isinstance(timeout, int) and not isinstance(timeout, bool) and not 1 <= timeout <= MAX_TIMEOUT:
        problems.append(Problem(file, f"'timeout' must be between 1 and {MAX_TIMEOUT} seconds", lines.get("timeout")))
    resources = data.get("resources")
    if isinstance(resources, dict):
        for key, value in resources.items():
            if key not in RESOURCE_KEYS:
                problems.append(Problem(file, f"unknown key 'resources.{key}'", lines.get("resources")))
            elif isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                problems.append(Problem(file, f"'resources.{key}' must be a positive integer", lines.get("resources")))
    queue = data.get("queue")
    if isinstance(queue, str) and not QUEUE_RE.match(queue):
        problems.append(
            Problem(
                file, "'queue' must be lower-case letters, digits, '.', '_' or '-' (at most 64)", lines.get("queue")
            )
        )
    priority = data.get("priority")
    if isinstance(priority, int) and not isinstance(priority, bool) and not 0 <= priority <= MAX_PRIORITY:
        problems.append(Problem(file, f"'priority' must be between 0 and {MAX_PRIORITY}", lines.get("priority")))
    if "dependencies" in data:
        _, wrong = parse_dependencies(data["dependencies"])
        problems.extend(Problem(file, message, lines.get("dependencies")) for message in wrong)
    problems.extend(_approval_problems(data.get("approval"), file, lines.get("approval")))
    problems.extend(_network_problems(data.get("network"), file, lines.get("network")))
    secrets = data.get("secrets")
    if isinstance(secrets, list):
        for name in secrets:
            if not isinstance(name, str) or not SECRET_NAME_RE.match(name):
                problems.append(
                    Problem(
                        file,
                        f"secret name {name!r} must look like an environment variable (A-Z, 0-9, _)",
                        lines.get("secrets"),
                    )
                )
    return data, problems
