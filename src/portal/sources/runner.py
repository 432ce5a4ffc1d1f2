"""The runner of `source_refresh` jobs (registered for the kind by `bootstrap.connect_domains`): import what a
source holds into the catalog's lifecycle, one item version at a time, so one bad item never stops the others.

- A Git source: its tags (`git ls-remote`, with the credential its secret holds, as the probe presents it) that
  match its `tags` glob and name an `item-id@semver`; each one not registered yet is fetched, checked and
  registered the way a Git import is (`catalog.importers.git`, `catalog.service.check_candidates/register`).
- A folder source: every item version under its folder (`catalog.local_roots.candidates`), registered as a local
  import is, in development mode when the source says so.

Each failing version is listed with its problems (file, line, message); versions imported from the source before
that it no longer holds are noted, never deleted. Every version registered names the source in its provenance
(`source.source_id`), so that survives the source's deletion.
"""

from __future__ import annotations

import fnmatch
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.catalog import local_roots
from portal.catalog import service as catalog_service
from portal.catalog.importers import git as git_importer
from portal.catalog.importers.local import Candidate
from portal.catalog.manifest import parse_version
from portal.catalog.models import CatalogVersion
from portal.catalog.schemas import GitImportRequest, ImportedVersion
from portal.db import session as db
from portal.errors import NotFound, PortalError, ValidationFailed
from portal.identity.principal import Principal
from portal.identity.roles import Role
from portal.jobs import item_tests, kinds
from portal.jobs.schemas import ClaimedJob
from portal.settings import get_settings
from portal.sources import probe
from portal.sources import service as sources_service
from portal.sources.document import FolderSource, GitSource, SourcesDocument
from portal.sources.redaction import redact_text, url_has_password
from portal.sources.status import Outcome, record_result


def importer_of(source_id: str) -> Principal:
    """Who a refresh registers versions as: the source itself, with the admin role that configured it (so an
    admin reviewing them is never their importer)."""
    return Principal(id=None, username=f"source {source_id}"[:64], role=Role.admin, via="source")


def find_source(source_id: str) -> GitSource | FolderSource:
    """The source as the current document holds it (credentials included); 404 when it is not there."""
    document = SourcesDocument.model_validate(sources_service.current_content())
    for source in document.sources:
        if source.id == source_id:
            return source
    raise NotFound(f"no source {source_id!r} in the sources document", details={"source_id": source_id})


def run_refresh(job: ClaimedJob, step: kinds.StepReporter, cancel: threading.Event) -> dict[str, Any]:
    """Refresh the job's source; its status is stored (and announced) however the refresh ends."""
    source_id = str(job.inputs["source_id"])
    started = time.monotonic()
    outcome: Outcome | None = None
    error: str | None = None
    cancelled = False
    try:
        source = find_source(source_id)
        if not source.enabled:
            raise PortalError(f"source {source_id} is disabled", code="source_disabled")
        if isinstance(source, GitSource):
            outcome = _refresh_git(source, step, cancel)
        else:
            outcome = _refresh_folder(source, step, cancel)
    except PortalError as exc:
        cancelled = exc.code == "cancelled"
        error = redact_text(exc.message)
        raise PortalError(error, code=exc.code) from None
    except Exception as exc:
        error = f"{type(exc).__name__}: {redact_text(str(exc))}"
        raise
    finally:
        if not cancelled:  # a cancelled refresh leaves the last result standing
            elapsed = int((time.monotonic() - started) * 1000)
            record_result(source_id, job.id, outcome, error=error, duration_ms=elapsed)
    step(100, outcome.summary)
    return {
        "source_id": source_id,
        "summary": outcome.summary,
        "imported": outcome.imported,
        "unchanged": outcome.unchanged,
        "failed": outcome.failed,
        "missing": outcome.missing,
    }


def _check_cancel(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise PortalError("the refresh was cancelled", code="cancelled")


def _problems(exc: PortalError, item_id: str | None, version: str | None) -> list[dict[str, Any]]:
    """A failed version's problems, each with the version it belongs to."""
    details = exc.details if isinstance(exc.details, list) else []
    found = [
        {
            "item_id": item_id,
            "version": version,
            "file": d.get("file"),
            "line": d.get("line"),
            "message": redact_text(str(d.get("message", ""))),
        }
        for d in details
        if isinstance(d, dict)
    ]
    message = redact_text(exc.message)
    return found or [{"item_id": item_id, "version": version, "file": None, "line": None, "message": message}]


def _note_missing(outcome: Outcome, source_id: str) -> None:
    """The versions imported from this source before that this refresh did not find (kept, only noted)."""
    seen = set(outcome.imported + outcome.unchanged + outcome.failed)
    with db.read() as s:
        rows = s.execute(select(CatalogVersion.item_id, CatalogVersion.version, CatalogVersion.source))
        ours = [f"{i}@{v}" for i, v, src in rows if isinstance(src, dict) and src.get("source_id") == source_id]
    outcome.missing = sorted(name for name in ours if name not in seen)


def _register(
    outcome: Outcome,
    root: Path,
    candidates: list[Candidate],
    name: str,
    provenance: dict[str, Any],
    *,
    development: bool = False,
    tagged: str | None = None,
) -> None:
    """Check and register one item version's folders (a tag's version must be the manifest's); its problems are
    listed when it fails."""
    item_id, _, version = name.partition("@")
    actor = importer_of(str(provenance["source_id"]))
    try:
        checked = catalog_service.check_candidates(root, candidates, label=name)
        for item in checked:
            item_id, version = item.manifest.get("id", item_id), item.manifest.get("version", version)
            if tagged is not None and version != tagged:
                message = f"the tag says {tagged} but the manifest says {version}"
                raise ValidationFailed(message, details=[{"file": "manifest.yaml", "line": None, "message": message}])
        name = f"{item_id}@{version}"

        def source(item: Any) -> dict[str, Any]:
            return {**provenance, "path": item.path.relative_to(root).as_posix()}

        results = _register_once_more_on_a_race(actor, checked, source, development)
    except PortalError as exc:
        outcome.failed.append(name)
        outcome.problems.extend(_problems(exc, item_id or None, version or None))
        return
    except OSError as exc:  # a folder or file of this item that cannot be read
        outcome.failed.append(name)
        unreadable = PortalError(f"cannot read {exc.filename or 'a file'}: {exc.strerror or exc}")
        outcome.problems.extend(_problems(unreadable, item_id or None, version or None))
        return
    for result in results:
        label = f"{result.item_id}@{result.version}"
        (outcome.unchanged if result.outcome == "unchanged" else outcome.imported).append(label)
    item_tests.start_for_imported(actor, [r for r in results if r.outcome != "unchanged"])


def _register_once_more_on_a_race(
    actor: Principal, checked: list[Any], source: Any, development: bool
) -> list[ImportedVersion]:
    """Register; when another import registered the same version at the same moment (a unique key on PostgreSQL),
    once more, which then finds it (unchanged, or a conflict with what the other registered)."""
    try:
        return catalog_service.register(actor, checked, source, development=development)
    except IntegrityError:
        return catalog_service.register(actor, checked, source, development=development)


def _refresh_folder(source: FolderSource, step: kinds.StepReporter, cancel: threading.Event) -> Outcome:
    step(10, f"reading {source.path}")
    roots = get_settings().catalog_local_roots
    folder, candidates = local_roots.candidates(str(local_roots.check_allowed(Path(source.path), roots)), False)
    outcome = Outcome()
    for index, candidate in enumerate(candidates):
        _check_cancel(cancel)
        name = f"{candidate.expected_id or candidate.path.name}@{candidate.expected_version or ''}".rstrip("@")
        step(10 + 80 * index // max(1, len(candidates)), f"checking {name}")
        try:  # each item folder on its own: a link inside the tree may point outside the allowed roots
            local_roots.check_allowed(candidate.path, roots)
        except PortalError as exc:
            outcome.failed.append(name)
            outcome.problems.extend(_problems(exc, candidate.expected_id, candidate.expected_version))
            continue
        provenance = {"type": "local", "source_id": source.id, "folder": str(folder)}
        _register(outcome, folder, [candidate], name, provenance, development=source.development)
    _note_missing(outcome, source.id)
    return outcome


def matching_tags(source: GitSource, tags: list[str]) -> list[tuple[str, str]]:
    """(item id, version) of each tag that matches the source's glob and is an `item-id@semver`."""
    found = []
    for tag in tags:
        match = git_importer.TAG_RE.match(tag)
        if match and fnmatch.fnmatchcase(tag, source.tags) and parse_version(match["version"]) is not None:
            found.append((match["item_id"], match["version"]))
    return found


def _registered(pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    item_ids = {item_id for item_id, _ in pairs}
    with db.read() as s:
        rows = s.execute(
            select(CatalogVersion.item_id, CatalogVersion.version).where(CatalogVersion.item_id.in_(item_ids))
        )
        return {(item_id, version) for item_id, version in rows}


def _refresh_git(source: GitSource, step: kinds.StepReporter, cancel: threading.Event) -> Outcome:
    url = source.url.strip()
    if url_has_password(url):  # saved (with a warning) only without the probe; never on git's command line
        raise PortalError(
            "the URL holds a credential: store it as an admin secret and name it in credentials.secret",
            code="credential_in_url",
        )
    secret = probe.source_secret(source)
    outcome = Outcome()
    with tempfile.TemporaryDirectory(prefix="portal-refresh-") as tmp:
        home = Path(tmp)
        extra = {} if secret is None else probe.credential_env(url, secret, home, _ssh_command(home))
        step(5, f"listing the tags of {url}")
        pairs = matching_tags(source, probe.list_tags(source, home, extra))
        known = _registered(pairs)
        new = [pair for pair in pairs if pair not in known]
        outcome.unchanged.extend(f"{i}@{v}" for i, v in pairs if (i, v) in known)
        for index, (item_id, version) in enumerate(new):
            _check_cancel(cancel)
            name = f"{item_id}@{version}"
            step(10 + 85 * index // max(1, len(new)), f"importing {name}")
            work = home / f"tag-{index}"
            work.mkdir()
            request = GitImportRequest(repo_url=url, item_id=item_id, version=version)
            try:
                commit = git_importer.fetch(request, work, cancel, extra)
                repo = work / "repo"
                candidates = git_importer.locate(repo, request, source.path)
            except PortalError as exc:
                if exc.code == "cancelled":
                    raise
                outcome.failed.append(name)
                outcome.problems.extend(_problems(exc, item_id, version))
                continue
            provenance = {
                "type": "git",
                "source_id": source.id,
                "repo_url": url,
                "ref": request.refspec,
                "commit": commit,
            }
            _register(outcome, repo, candidates, name, provenance, tagged=version)
    _note_missing(outcome, source.id)
    return outcome


def _ssh_command(home: Path) -> str:
    """The ssh command git runs (its known hosts and options), to which a key is added."""
    return git_importer.git_env(home, get_settings())["GIT_SSH_COMMAND"]
