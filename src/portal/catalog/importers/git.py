"""Import item versions from Git with the git CLI: a shallow fetch of one tag, branch or commit.

Every fetch runs with a timeout, no hooks, no prompts, no credential helpers and no system or user config;
`file://` repositories are refused unless PORTAL_GIT_ALLOW_FILE is set, and the plain-text `http://` and `git://`
unless PORTAL_GIT_ALLOW_HTTP is. Imports run as jobs of kind
`catalog_import` (see `jobs.imports.run_import`), so they show in the jobs list with their progress steps.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from portal.catalog.importers.local import Candidate, discover
from portal.catalog.manifest import ID_RE, parse_version
from portal.catalog.schemas import GitImportRequest
from portal.catalog.validate import MANIFEST
from portal.errors import PortalError, ValidationFailed
from portal.settings import Settings, get_settings

TAG_RE = re.compile(r"^(?P<item_id>[a-z0-9][a-z0-9-]{1,62})@(?P<version>[0-9A-Za-z.+-]+)\Z")
REF_RE = re.compile(r"^(?!-)(?!.*\.\.)[A-Za-z0-9._/@+-]{1,200}\Z")
_SCP_RE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!-)[A-Za-z0-9._/~-]+\Z")
_REMOTE_SCHEMES = ("https://", "http://", "ssh://", "git://")
_PLAIN_SCHEMES = ("http://", "git://")
ProgressCallback = Callable[[int, str], None]


class GitError(PortalError):
    status_code = 422
    code = "git_failed"


def check_request(request: GitImportRequest, settings: Settings) -> None:
    """Refuse what git must never be handed: unknown or unallowed transports, option-like refs, bad ids and
    versions."""
    problems = []
    url = request.repo_url.strip()
    scheme = url.lower()  # git reads schemes in any case
    if scheme.startswith("file://"):
        if not settings.git_allow_file:
            problems.append({"field": "repo_url", "message": "file:// repositories need PORTAL_GIT_ALLOW_FILE=true"})
    elif scheme.startswith(_PLAIN_SCHEMES) and not settings.git_allow_http:
        # Anyone on the path could hand over other code, which the portal would then run.
        message = "http:// and git:// are not encrypted: use https:// or ssh:// (or set PORTAL_GIT_ALLOW_HTTP=true)"
        problems.append({"field": "repo_url", "message": message})
    elif not (scheme.startswith(_REMOTE_SCHEMES) or _SCP_RE.match(url)) or any(c.isspace() for c in url):
        problems.append({"field": "repo_url", "message": "use an https://, ssh://, git:// or user@host:path URL"})
    elif scheme.startswith(("https://", "http://", "git://")) and "@" in urlsplit(url).netloc:
        # It would be stored with the job, its timeline, the audit trail and the version's source.
        problems.append({"field": "repo_url", "message": "credentials in the URL are not accepted"})
    if not ID_RE.match(request.item_id):
        problems.append({"field": "item_id", "message": "not a valid item id"})
    if bool(request.version) == bool(request.ref):
        problems.append({"field": "version", "message": "give either a version (tag item_id@version) or a ref"})
    if request.version and parse_version(request.version) is None:
        problems.append({"field": "version", "message": f"{request.version!r} is not a semantic version"})
    if request.ref and not REF_RE.match(request.ref):
        problems.append({"field": "ref", "message": "not a valid branch, tag or commit name"})
    if problems:
        raise ValidationFailed("invalid Git import", details=problems)


# --- fetching -------------------------------------------------------------------------------------------------


def known_hosts(settings: Settings) -> Path:
    """The SSH host keys Git over ssh trusts: PORTAL_GIT_SSH_KNOWN_HOSTS, or `ssh_known_hosts` in the data
    directory. An unknown host is refused, never learnt on first use (anyone on the way could answer first)."""
    return Path(settings.git_ssh_known_hosts) if settings.git_ssh_known_hosts else settings.data_dir / "ssh_known_hosts"


def git_env(home: Path, settings: Settings) -> dict[str, str]:
    ssh = (
        "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null "
        f"-o UserKnownHostsFile={shlex.quote(str(known_hosts(settings)))}"
    )
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
        "GIT_SSH_COMMAND": ssh,
        "GIT_LFS_SKIP_SMUDGE": "1",
    }


def git_config(settings: Settings) -> list[str]:
    plain = "always" if settings.git_allow_http else "never"  # a redirect to http:// is refused as well
    options = {
        "core.hooksPath": "/dev/null",
        "credential.helper": "",
        "protocol.allow": "never",
        "protocol.https.allow": "always",
        "protocol.http.allow": plain,
        "protocol.ssh.allow": "always",
        "protocol.git.allow": plain,
        "protocol.file.allow": "always" if settings.git_allow_file else "never",
        "advice.detachedHead": "false",
        "core.symlinks": "false",
    }
    return [arg for key, value in options.items() for arg in ("-c", f"{key}={value}")]


def run_git(args: list[str], cwd: Path, env: dict[str, str], deadline: float, cancel: threading.Event | None) -> str:
    """Run one git command in its own process group; kill it on timeout or cancel."""
    proc = subprocess.Popen(
        ["git", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    while True:
        try:
            out, err = proc.communicate(timeout=0.1)
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline or (cancel is not None and cancel.is_set()):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                if cancel is not None and cancel.is_set():
                    raise GitError("the import was cancelled", code="cancelled") from None
                raise GitError("git took longer than PORTAL_GIT_TIMEOUT_SECONDS", code="git_timeout") from None
    if proc.returncode != 0:
        stderr = err.decode("utf-8", "replace")
        reason = _failure_reason(stderr) or f"exit {proc.returncode}"
        raise GitError(f"git {_subcommand(args)} failed: {reason}", details={"stderr": stderr[-2000:]})
    return out.decode("utf-8", "replace").strip()


# What git prints after any failure to reach a remote; the line before it (ssh's or the server's) says why.
_BOILERPLATE = (
    "fatal: could not read from remote repository.",
    "please make sure you have the correct access rights",
    "and the repository exists.",
)


def _failure_reason(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines()]
    telling = [line for line in lines if line and line.lower() not in _BOILERPLATE]
    return telling[-1] if telling else ""


def _subcommand(args: list[str]) -> str:
    """The git command's name, past the leading `-c key=value` options."""
    index = 0
    while index < len(args) and args[index] == "-c":
        index += 2
    return args[index] if index < len(args) else "git"


def fetch(
    request: GitImportRequest,
    workdir: Path,
    cancel: threading.Event | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> str:
    """Shallow-fetch the request's tag/ref into `workdir/repo`, check it out, and return the commit. `extra_env`
    adds to git's environment (a credential's askpass helper or ssh key, as `sources.probe.credential_env` makes)."""
    settings = get_settings()
    deadline = time.monotonic() + settings.git_timeout_seconds
    env = {**git_env(workdir, settings), **(extra_env or {})}
    repo = workdir / "repo"
    repo.mkdir()
    config = git_config(settings)
    run_git([*config, "init", "-q"], repo, env, deadline, cancel)
    run_git(
        [*config, "fetch", "-q", "--depth=1", "--no-tags", "--", request.repo_url, request.refspec],
        repo,
        env,
        deadline,
        cancel,
    )
    run_git([*config, "checkout", "-q", "--detach", "FETCH_HEAD"], repo, env, deadline, cancel)
    return run_git([*config, "rev-parse", "HEAD"], repo, env, deadline, cancel)


def locate(repo: Path, request: GitImportRequest, items: str = "items") -> list[Candidate]:
    """The item's version folders: under `<items>/<item_id>/` (`items/` unless a source names another folder), or
    the repository root when it is the item."""
    item_dir = repo / items / request.item_id
    if item_dir.is_dir():
        candidates = [c for c in discover(item_dir) if c.expected_id in (None, request.item_id)]
        candidates = [Candidate(c.path, request.item_id, c.expected_version) for c in candidates]
    elif (repo / MANIFEST).is_file():
        candidates = [Candidate(repo, request.item_id, None)]
    else:
        raise ValidationFailed(
            f"the repository has no {items}/{request.item_id}/ folder and no manifest.yaml at its root",
            details=[{"file": f"{items}/{request.item_id}", "line": None, "message": "not found"}],
        )
    if request.version:
        exact = [c for c in candidates if c.expected_version == request.version]
        return exact or [c for c in candidates if c.expected_version is None]
    return candidates


# --- repository URLs -----------------------------------------------------------------------------------------


def normalize_repo_url(url: str) -> str:
    """Compare clone URLs loosely: no scheme credentials, no trailing `.git` or `/`, lower-case host."""
    url = url.strip().rstrip("/")
    url = url.removesuffix(".git")
    if "://" in url:
        rest = url.split("://", 1)[1]
        host, _, path = rest.partition("/")
        host = host.rsplit("@", 1)[-1].lower()
        return f"{host}/{path}"
    if _SCP_RE.match(url + ".git") or _SCP_RE.match(url):
        host, _, path = url.split("@", 1)[-1].partition(":")
        return f"{host.lower()}/{path}"
    return url
