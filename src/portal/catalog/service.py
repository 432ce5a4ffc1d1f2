"""The catalog: import item versions (folders, Git checkouts, uploads) into the bundle store. Reading the catalog
and resolving what a job will run is `catalog.queries`."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import semver
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.catalog import access, channels, dependencies, lifecycle, local_roots, quotas
from portal.catalog.bundles import (
    BundleLimits,
    pack_folder,
    sha256_bytes,
    tree_digest,
)
from portal.catalog.importers.local import Candidate
from portal.catalog.importers.upload import extracted, sha256_of
from portal.catalog.manifest import Problem, network_need, parse_version
from portal.catalog.models import Bundle, CatalogItem, CatalogVersion, CatalogVersionEvent
from portal.catalog.schemas import (
    ImportedVersion,
    ImportReport,
    ProblemOut,
    ValidationReport,
    VersionCheck,
)
from portal.catalog.storage import bundle_store
from portal.catalog.validate import ItemFolder, check_folder
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict, NotFound, ValidationFailed
from portal.identity.principal import Principal
from portal.settings import get_settings

ACTIVE = lifecycle.ACTIVE
LATEST = "latest"
DEFAULT_QUEUE = "default"


def version_sort_key(version: str) -> semver.Version:
    """Order of versions: semver, anything else first."""
    return parse_version(version) or semver.Version(0)


def _latest(versions: list[tuple[str, str]]) -> str | None:
    """Highest active release; a pre-release only when there is no release; a deprecated version only when
    there is no active one."""
    for state in (lifecycle.ACTIVE, lifecycle.DEPRECATED):
        candidates = [v for v, status in versions if status == state]
        releases = [v for v in candidates if not version_sort_key(v).prerelease]
        pool = releases or candidates
        if pool:
            return max(pool, key=version_sort_key)
    return None


def _problems_under(root: Path, folder: Path, problems: list[Problem]) -> list[dict[str, Any]]:
    """An item folder's problems with their file named relative to the import's root."""
    rel = folder.relative_to(root) if folder != root else Path(".")
    return [{**problem.as_dict(), "file": (rel / problem.file).as_posix()} for problem in problems]


def check_candidates(root: Path, candidates: list[Candidate], label: str | None = None) -> list[ItemFolder]:
    """Check every candidate folder; raise 422 with every problem (file paths relative to `root`) if any."""
    if not candidates:
        raise ValidationFailed(
            "no item versions found (expected items/<id>/<version>/manifest.yaml or a manifest.yaml at the top)",
            details=[{"file": label or str(root), "line": None, "message": "no manifest.yaml found"}],
        )
    problems: list[dict[str, Any]] = []
    checked = []
    for candidate in candidates:
        item = check_folder(candidate.path, candidate.expected_version, candidate.expected_id)
        problems.extend(_problems_under(root, candidate.path, item.problems))
        checked.append(item)
    if problems:
        raise ValidationFailed(f"{len(problems)} problem(s) in {label or root}", details=problems)
    return checked


def _unchanged(candidates: list[Candidate], digests: dict[Path, str]) -> tuple[list[Candidate], list[ImportedVersion]]:
    """Split off the candidates already registered with exactly these files (found by their tree digest)."""
    with db.read() as s:
        known = {
            row.tree_digest: row
            for row in s.execute(
                select(
                    CatalogVersion.tree_digest,
                    CatalogVersion.item_id,
                    CatalogVersion.version,
                    CatalogVersion.bundle_sha256,
                    CatalogVersion.dev_path,
                ).where(CatalogVersion.tree_digest.in_(set(digests.values())))
            )
        }
    remaining, unchanged = [], []
    for candidate in candidates:
        row = known.get(digests[candidate.path])
        same_place = row is not None and (
            (candidate.expected_id in (None, row.item_id)) and (candidate.expected_version in (None, row.version))
        )
        if row is not None and same_place and row.dev_path is None:
            unchanged.append(
                ImportedVersion(
                    item_id=row.item_id, version=row.version, outcome="unchanged", bundle_sha256=row.bundle_sha256
                )
            )
        else:
            remaining.append(candidate)
    return remaining, unchanged


def register(
    actor: Principal,
    folders: list[ItemFolder],
    source: Callable[[ItemFolder], dict[str, Any]],
    *,
    replace: bool = False,
    development: bool = False,
    draft: bool = False,
    status: str | None = None,
    digests: dict[Path, str] | None = None,
) -> list[ImportedVersion]:
    """Pack and register checked item versions, all of them or none.

    A version already registered with the same bundle is unchanged; with another bundle it is a conflict (409)
    unless `replace` is set, which is audited with the old and new bundle. Development versions run from their
    folder and may be re-imported with new content at any time.
    """
    known = digests or {}
    wanted = {item.path: dependencies.declared(item.manifest) for item in folders}
    with db.read() as s:
        batch = {(item.manifest["id"], item.manifest["version"]) for item in folders}
        missing = dependencies.unresolved(
            s, ((i.manifest["id"], i.manifest["version"], wanted[i.path]) for i in folders), batch
        )
    if missing:
        raise ValidationFailed(f"{len(missing)} dependency problem(s): nothing was imported", details=missing)
    packed = [(item, pack_folder(item.path), known.get(item.path) or tree_digest(item.path)) for item in folders]
    store = bundle_store()
    results: list[ImportedVersion] = []
    touched: set[str] = set()
    with db.write() as s:
        for item, data, digest_of_tree in packed:
            digest = sha256_bytes(data)
            item_id, version = item.manifest["id"], item.manifest["version"]
            existing = s.scalar(
                select(CatalogVersion).where(CatalogVersion.item_id == item_id, CatalogVersion.version == version)
            )
            if existing is not None and existing.bundle_sha256 == digest and bool(existing.dev_path) == development:
                results.append(
                    ImportedVersion(item_id=item_id, version=version, outcome="unchanged", bundle_sha256=digest)
                )
                continue
            if existing is not None and not (replace or existing.dev_path):
                raise Conflict(
                    f"{item_id} {version} is already registered with different content; bump the version or "
                    "import again with replace",
                    details={"item_id": item_id, "version": version, "bundle_sha256": existing.bundle_sha256},
                )
            catalog_item = _ensure_item(s, actor, item.manifest)
            review = _review_required(catalog_item)
            if development and review:
                raise Conflict(
                    f"{item_id} needs a review before a version runs: development versions (which run whatever "
                    "their folder holds) are off for it",
                    details={"item_id": item_id, "field": "development"},
                )
            # A version whose tests must pass first starts as a draft: its tests run on import, and it is
            # activated once they passed (the activation gate checks).
            held = bool(item.tests) and _tests_required(catalog_item)
            state, reason = (
                (status, None)
                if status
                else lifecycle.initial_state(item.manifest, review_required=review, draft=draft or held)
            )
            if held and state == lifecycle.DRAFT and not draft:
                reason = "its tests must pass before it is active"
            quotas.check(s, catalog_item, version, digest, len(data))
            store.put(data, s)
            if s.get(Bundle, digest) is None:
                s.add(Bundle(sha256=digest, size=len(data)))
            values = {
                "manifest": item.manifest,
                "input_schema": item.schema,
                "ui_schema": item.ui,
                "readme": item.readme,
                "tests": [case.as_dict() for case in item.tests] or None,
                "bundle_sha256": digest,
                "tree_digest": digest_of_tree,
                "dev_path": str(item.path.resolve()) if development else None,
                "source": source(item),
                "imported_by": actor.username,
                "imported_at": utcnow(),
            }
            if existing is None:
                s.add(CatalogVersion(item_id=item_id, version=version, status=state, status_reason=reason, **values))
                s.add(_first_event(item_id, version, state, reason, actor))
                outcome, action = "imported", "catalog.import"
                details: dict[str, Any] = {"source": values["source"], "bundle_sha256": digest, "state": state}
            else:
                details = {
                    "source": values["source"],
                    "before": {"bundle_sha256": existing.bundle_sha256, "state": existing.status},
                    "after": {"bundle_sha256": digest, "state": state},
                }
                for key, value in values.items():
                    setattr(existing, key, value)
                # New content starts over: what was decided about the old one (its state, its review, the channels
                # that point to it) does not carry to it.
                existing.reviewed_by = existing.reviewed_at = None
                if existing.status != state:
                    lifecycle.record(s, actor, existing, state, reason or "replaced with new content", audited=False)
                if state not in lifecycle.RUNNABLE or not existing.dev_path:
                    channels.drop_version(s, actor, item_id, version, f"{version} was replaced with new content")
                outcome, action = "replaced", "catalog.replace"
            dependencies.record(s, item_id, version, wanted[item.path])
            s.flush()
            touched.add(item_id)
            audit.record(
                s, actor, action, target_type="item_version", target_id=f"{item_id}@{version}", details=details
            )
            results.append(ImportedVersion(item_id=item_id, version=version, outcome=outcome, bundle_sha256=digest))
        for item_id in touched:
            refresh_item(s, item_id)
    return results


def import_local(
    actor: Principal,
    path: str,
    *,
    enforce_roots: bool = True,
    replace: bool = False,
    development: bool = False,
    draft: bool = False,
) -> ImportReport:
    """Validate every item version under `path`, then register them all, or none when anything is wrong."""
    folder, candidates = local_roots.candidates(path, enforce_roots)
    unchanged: list[ImportedVersion] = []
    digests = {c.path: tree_digest(c.path) for c in candidates}
    if not (replace or development):
        candidates, unchanged = _unchanged(candidates, digests)
        if not candidates and unchanged:
            return ImportReport(imported=unchanged)
    checked = check_candidates(folder, candidates)
    results = register(
        actor,
        checked,
        lambda item: {"type": "local", "path": str(item.path.resolve())},
        replace=replace,
        development=development,
        draft=draft,
        digests=digests,
    )
    return ImportReport(imported=unchanged + results)


def bundle_limits() -> BundleLimits:
    settings = get_settings()
    return BundleLimits(settings.catalog_max_members, settings.catalog_max_unpacked_bytes)


def _upload_workdir() -> tempfile.TemporaryDirectory[str]:
    tmp = get_settings().data_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(dir=tmp, prefix="upload-")


def import_upload(
    actor: Principal, filename: str, fileobj: BinaryIO, *, replace: bool = False, draft: bool = False
) -> ImportReport:
    """Register the item versions of an uploaded `.tar.gz`, all of them or none."""
    upload_sha = sha256_of(fileobj)
    with _upload_workdir() as tmp, extracted(fileobj, Path(tmp), bundle_limits()) as (root, candidates):
        checked = check_candidates(root, candidates, label=filename)

        def source(item: ItemFolder) -> dict[str, Any]:
            return {
                "type": "upload",
                "filename": filename,
                "upload_sha256": upload_sha,
                "path": item.path.relative_to(root).as_posix(),
            }

        results = register(actor, checked, source, replace=replace, draft=draft)
    return ImportReport(imported=results)


def _validation_report(root: Path, candidates: list[Candidate], label: str) -> ValidationReport:
    """Every problem of every candidate folder, file paths relative to `root`; nothing is registered."""
    versions = []
    for candidate in candidates:
        item = check_folder(candidate.path, candidate.expected_version, candidate.expected_id)
        versions.append(
            VersionCheck(
                item_id=item.manifest.get("id") or candidate.expected_id,
                version=item.manifest.get("version") or candidate.expected_version,
                problems=[ProblemOut(**p) for p in _problems_under(root, candidate.path, item.problems)],
            )
        )
    if not versions:
        return ValidationReport(
            valid=False,
            versions=[],
            problems=[ProblemOut(file=label, line=None, message="no manifest.yaml found")],
        )
    return ValidationReport(valid=all(not v.problems for v in versions), versions=versions, problems=[])


def validate_upload(filename: str, fileobj: BinaryIO) -> ValidationReport:
    """Every problem of an uploaded bundle, without registering anything (the import dialog's preview)."""
    try:
        with _upload_workdir() as tmp, extracted(fileobj, Path(tmp), bundle_limits()) as (root, candidates):
            return _validation_report(root, candidates, filename)
    except ValidationFailed as exc:
        problems = [ProblemOut(**d) for d in exc.details] if isinstance(exc.details, list) else []
        return ValidationReport(
            valid=False, versions=[], problems=problems or [ProblemOut(file=filename, line=None, message=exc.message)]
        )


def validate_local(path: str) -> ValidationReport:
    """Every problem of the item versions in a folder under an allowed root, without registering anything."""
    folder, candidates = local_roots.candidates(path, enforce_roots=True)
    return _validation_report(folder, candidates, path)


def _ensure_item(s: Session, actor: Principal, manifest: dict[str, Any]) -> CatalogItem:
    """The item a version belongs to (created, with its first maintainer, for a new id); Forbidden when `actor`
    does not manage it."""
    item = s.get(CatalogItem, manifest["id"])
    if item is None:
        item = CatalogItem(id=manifest["id"], name=manifest["name"], maintainers=access.first_maintainers(actor))
        s.add(item)
        s.flush()
    access.check_may_manage(actor, item)
    return item


def _tests_required(item: CatalogItem) -> bool:
    return get_settings().catalog_tests_required if item.tests_required is None else item.tests_required


def _review_required(item: CatalogItem) -> bool:
    return (item.review_policy or get_settings().catalog_review) == "required"


def _first_event(item_id: str, version: str, state: str, reason: str | None, actor: Principal) -> CatalogVersionEvent:
    return CatalogVersionEvent(
        item_id=item_id,
        version=version,
        from_state=None,
        to_state=state,
        reason=reason or "imported",
        actor=actor.username,
    )


def refresh_item(s: Session, item_id: str) -> None:
    """Recompute the active versions and `latest_version`, and take the item's presentation from the latest."""
    item = s.get(CatalogItem, item_id)
    if item is None:
        return
    rows = s.execute(
        select(CatalogVersion.version, CatalogVersion.status, CatalogVersion.manifest).where(
            CatalogVersion.item_id == item_id
        )
    ).all()
    item.latest_version = _latest([(r.version, r.status) for r in rows])
    item.versions = sorted(
        (r.version for r in rows if r.status in lifecycle.OFFERED), key=version_sort_key, reverse=True
    )
    latest = next((r.manifest for r in rows if r.version == item.latest_version), None)
    item.network = network_need(latest) if latest is not None else None
    if latest is not None:
        item.name = latest.get("displayName") or latest["name"]
        item.description = latest.get("description", "") or ""
        item.category = latest.get("category")
        item.tags = list(latest.get("tags") or [])
        item.owner = latest.get("owner") or latest.get("author")
    for field, value in (item.overrides or {}).items():  # what an admin set wins over the manifest
        setattr(item, field, value)
    item.updated_at = utcnow()


def find_version(s: Session, item_id: str, version: str | None) -> CatalogVersion:
    """A version of an item by number, `latest` (or none) or a channel's name."""
    if version and version != LATEST and channels.is_channel_name(version):
        if s.get(CatalogItem, item_id) is None:
            raise NotFound(f"catalog item {item_id!r} not found", details={"field": "item_id"})
        version = channels.version_of(s, item_id, version)
    if not version or version == LATEST:
        latest = s.scalar(select(CatalogItem.latest_version).where(CatalogItem.id == item_id))
        if latest is None:
            raise NotFound(f"catalog item {item_id!r} not found", details={"field": "item_id"})
        version = latest
    row = s.scalar(select(CatalogVersion).where(CatalogVersion.item_id == item_id, CatalogVersion.version == version))
    if row is None:
        if s.get(CatalogItem, item_id) is None:
            raise NotFound(f"catalog item {item_id!r} not found", details={"field": "item_id"})
        raise NotFound(f"version {version!r} of {item_id!r} not found", details={"field": "version"})
    return row
