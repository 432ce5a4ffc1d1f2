"""The probe layer: does each source answer? A Git repository must list its tags (`git ls-remote`) within a
timeout with the credentials its secret holds; a folder must exist and be readable.

Git runs the way the importer runs it (no hooks, prompts, credential helpers or user config; allowed transports
only; killed at the deadline). A credential never reaches a command line or a log: an HTTPS token is handed to
git by an askpass helper reading an environment variable of that git process only; an SSH private key is written
to a file readable by this user only, in a temporary folder removed afterwards, and named by `ssh -i`.
"""

from __future__ import annotations

import os
import shlex
import tempfile
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy import select

from portal.catalog import local_roots
from portal.catalog.importers import git as git_importer
from portal.db import session as db
from portal.errors import PortalError
from portal.secrets import crypto
from portal.secrets.models import Secret
from portal.settings import get_settings
from portal.sources.document import FolderSource, GitSource, SourcesDocument
from portal.sources.redaction import redact_text, url_has_password

PROBE_TIMEOUT_SECONDS = 30  # at most; PORTAL_GIT_TIMEOUT_SECONDS when lower
PARALLEL = 4
DEFAULT_USERNAME = "x-access-token"  # what GitHub expects with a token; GitLab and Gitea accept any name
_ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "$PORTAL_PROBE_USERNAME" ;;
  *) printf '%s\\n' "$PORTAL_PROBE_TOKEN" ;;
esac
"""
Found = tuple[int, str, str]  # (source index, field, message)


def probe_all(document: SourcesDocument, only: Collection[str] | None = None) -> list[Found]:
    """The problems of every source's probe (or of those whose id is in `only`), a few sources at a time."""
    chosen = [(index, source) for index, source in enumerate(document.sources) if only is None or source.id in only]
    with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="sources-probe") as pool:
        futures = [(index, pool.submit(probe_source, source)) for index, source in chosen]
        results = [(index, *future.result()) for index, future in futures]
    return [(index, field, message) for index, field, message in results if message]


def probe_source(source: GitSource | FolderSource) -> tuple[str, str | None]:
    """(field, problem or None) of one source."""
    if isinstance(source, FolderSource):
        return "path", _probe_folder(source.path)
    return "url", _probe_git(source)


def _probe_folder(path: str) -> str | None:
    try:
        folder = local_roots.check_allowed(Path(path), local_roots.allowed_roots())
    except PortalError as exc:
        return exc.message
    if not folder.is_dir():
        return "the folder does not exist"
    if not os.access(folder, os.R_OK | os.X_OK):
        return "the folder is not readable by the portal"
    try:
        with os.scandir(folder) as entries:
            next(entries, None)
    except OSError as exc:
        return f"the folder cannot be listed: {exc.strerror}"
    return None


def _secret_value(name: str) -> str | None:
    with db.read() as s:
        ciphertext = s.scalar(select(Secret.ciphertext).where(Secret.name == name))
    return None if ciphertext is None else crypto.decrypt(ciphertext)


def _is_ssh(url: str) -> bool:
    return url.lower().startswith("ssh://") or "://" not in url


def _url_user(url: str) -> str | None:
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return None
    return unquote(netloc.rsplit("@", 1)[0]) if "@" in netloc else None


def credential_env(url: str, secret: str, home: Path, ssh_command: str) -> dict[str, str]:
    """What git's environment gains to present a credential, written into `home` (a private temporary folder that
    the caller removes): for SSH a 0600 key file named by `ssh -i`; for HTTPS an askpass helper that prints the
    token from this environment. Nothing of it reaches a command line."""
    if _is_ssh(url):
        key = home / "key"
        key.touch(mode=0o600)
        key.write_text(secret if secret.endswith("\n") else secret + "\n")
        return {"GIT_SSH_COMMAND": f"{ssh_command} -o IdentitiesOnly=yes -i {shlex.quote(str(key))}"}
    askpass = home / "askpass"
    askpass.write_text(_ASKPASS)
    askpass.chmod(0o700)
    return {
        "GIT_ASKPASS": str(askpass),
        "PORTAL_PROBE_USERNAME": _url_user(url) or DEFAULT_USERNAME,
        "PORTAL_PROBE_TOKEN": secret,
    }


def source_secret(source: GitSource) -> str | None:
    """The credential a Git source names (None without one); GitError when the secret is gone."""
    if source.credentials is None:
        return None
    secret = _secret_value(source.credentials.secret)
    if secret is None:
        raise git_importer.GitError(f"no admin secret named {source.credentials.secret!r}", code="secret_missing")
    return secret


def list_tags(source: GitSource, home: Path, extra_env: dict[str, str], timeout: float | None = None) -> list[str]:
    """The names of the repository's tags (`git ls-remote --tags`), within `timeout` seconds (by default
    PORTAL_GIT_TIMEOUT_SECONDS)."""
    settings = get_settings()
    env = {**git_importer.git_env(home, settings), **extra_env}
    deadline = time.monotonic() + (settings.git_timeout_seconds if timeout is None else timeout)
    command = [*git_importer.git_config(settings), "ls-remote", "--tags", "--", source.url.strip()]
    out = git_importer.run_git(command, home, env, deadline, None)
    names = {
        line.split("\t", 1)[1].removeprefix("refs/tags/").removesuffix("^{}")
        for line in out.splitlines()
        if "\t" in line
    }
    return sorted(names)


def _probe_git(source: GitSource) -> str | None:
    settings = get_settings()
    url = source.url.strip()
    if url_has_password(url):
        return "not probed: the URL holds a credential (name an admin secret in credentials.secret instead)"
    try:
        secret = source_secret(source)
    except git_importer.GitError as exc:
        return exc.message
    timeout = min(settings.git_timeout_seconds, PROBE_TIMEOUT_SECONDS)
    with tempfile.TemporaryDirectory(prefix="portal-probe-") as folder:
        home = Path(folder)
        ssh = git_importer.git_env(home, settings)["GIT_SSH_COMMAND"]
        extra = credential_env(url, secret, home, ssh) if secret is not None else {}
        try:
            list_tags(source, home, extra, timeout)
        except git_importer.GitError as exc:
            if exc.code == "git_timeout":
                return "the repository did not answer git ls-remote in time"
            return redact_text(f"the repository did not answer git ls-remote: {exc.message}")
        except OSError as exc:
            return f"git could not be run: {exc.strerror}"
    return None
