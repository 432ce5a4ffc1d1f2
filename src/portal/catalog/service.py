"""The catalog: import item versions, list and describe them, and resolve what a job will run."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import semver
from jsonschema import Draft7Validator
from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.auth.principal import Principal
from portal.catalog.bundles import BundleCache, FilesystemBundleStore, pack_folder, sha256_bytes
from portal.catalog.importers.local import discover
from portal.catalog.manifest import parse_version
from portal.catalog.models import Bundle, CatalogItem, CatalogVersion
from portal.catalog.schemas import Descriptor, ImportedVersion, ImportReport, ItemOut, ItemPage, VersionOut
from portal.catalog.validate import check_folder
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict, Forbidden, NotFound, ValidationFailed
from portal.settings import Settings, get_settings

ACTIVE = "active"
LATEST = "latest"


@dataclass(frozen=True)
class RunnableVersion:
    """What a job needs to know about the version it runs."""

    item_id: str
    version: str
    bundle_sha256: str
    entrypoint: str
    timeout_seconds: int
    resources: dict[str, Any]
    validator: Draft7Validator


_stores_lock = threading.Lock()
_stores: dict[Path, tuple[FilesystemBundleStore, BundleCache]] = {}


def _storage(settings: Settings) -> tuple[FilesystemBundleStore, BundleCache]:
    key = settings.data_dir.resolve()
    with _stores_lock:
        if key not in _stores:
            store = FilesystemBundleStore(settings.bundles_dir)
            _stores[key] = (store, BundleCache(store, settings.bundle_cache_dir))
        return _stores[key]


def bundle_store() -> FilesystemBundleStore:
    return _storage(get_settings())[0]


def bundle_directory(sha256: str) -> Path:
    """The extracted, read-only folder of a bundle on this node."""
    return _storage(get_settings())[1].directory(sha256)


def _sort_key(version: str) -> semver.Version:
    return parse_version(version) or semver.Version(0)


def _latest(versions: list[tuple[str, str]]) -> str | None:
    """Highest active release; a pre-release only when there is no release."""
    active = [v for v, status in versions if status == ACTIVE]
    releases = [v for v in active if not _sort_key(v).prerelease]
    pool = releases or active
    return max(pool, key=_sort_key) if pool else None


def _check_allowed(path: Path, roots: list[Path]) -> Path:
    resolved = path.resolve()
    for root in roots:
        if resolved.is_relative_to(root.resolve()):
            return resolved
    raise Forbidden(
        "the path is not under an allowed catalog root (PORTAL_CATALOG_LOCAL_ROOTS)",
        details={"field": "path", "allowed_roots": [str(r) for r in roots]},
    )


def import_local(actor: Principal, path: str, *, enforce_roots: bool = True) -> ImportReport:
    """Validate every item version under `path`, then register them all, or none when anything is wrong."""
    settings = get_settings()
    folder = Path(path)
    if enforce_roots:
        folder = _check_allowed(folder, settings.catalog_local_roots)
    if not folder.is_dir():
        raise NotFound(f"folder {path!r} does not exist", details={"field": "path"})
    candidates = discover(folder)
    if not candidates:
        raise ValidationFailed(
            "no item versions found (expected items/<id>/<version>/manifest.yaml)",
            details=[{"file": str(folder), "line": None, "message": "no manifest.yaml found"}],
        )
    problems: list[dict[str, Any]] = []
    checked = []
    for candidate in candidates:
        item = check_folder(candidate.path, candidate.expected_version, candidate.expected_id)
        rel = candidate.path.relative_to(folder) if candidate.path != folder else Path(".")
        for problem in item.problems:
            problems.append({**problem.as_dict(), "file": (rel / problem.file).as_posix()})
        checked.append(item)
    if problems:
        raise ValidationFailed(f"{len(problems)} problem(s) in {path}", details=problems)

    packed = [(item, pack_folder(item.path)) for item in checked]
    store = bundle_store()
    results: list[ImportedVersion] = []
    with db.write() as s:
        for item, data in packed:
            digest = sha256_bytes(data)
            item_id, version = item.manifest["id"], item.manifest["version"]
            existing = s.scalar(
                select(CatalogVersion).where(CatalogVersion.item_id == item_id, CatalogVersion.version == version)
            )
            if existing is not None:
                if existing.bundle_sha256 != digest:
                    raise Conflict(
                        f"{item_id} {version} is already registered with different content",
                        details={"item_id": item_id, "version": version, "bundle_sha256": existing.bundle_sha256},
                    )
                results.append(
                    ImportedVersion(item_id=item_id, version=version, outcome="unchanged", bundle_sha256=digest)
                )
                continue
            store.put(data)
            if s.get(Bundle, digest) is None:
                s.add(Bundle(sha256=digest, size=len(data)))
            _ensure_item(s, item.manifest)
            s.add(
                CatalogVersion(
                    item_id=item_id,
                    version=version,
                    status=ACTIVE,
                    manifest=item.manifest,
                    input_schema=item.schema,
                    ui_schema=item.ui,
                    readme=item.readme,
                    bundle_sha256=digest,
                    source={"type": "local", "path": str(item.path)},
                    imported_by=actor.username,
                )
            )
            s.flush()
            _refresh_item(s, item_id)
            audit.record(
                s,
                actor,
                "catalog.import",
                target_type="item_version",
                target_id=f"{item_id}@{version}",
                details={"source": "local", "path": str(item.path), "bundle_sha256": digest},
            )
            results.append(ImportedVersion(item_id=item_id, version=version, outcome="imported", bundle_sha256=digest))
    return ImportReport(imported=results)


def _ensure_item(s: Session, manifest: dict[str, Any]) -> None:
    if s.get(CatalogItem, manifest["id"]) is None:
        s.add(CatalogItem(id=manifest["id"], name=manifest["name"]))
        s.flush()


def _refresh_item(s: Session, item_id: str) -> None:
    """Recompute `latest_version` and take the item's presentation from its latest version."""
    item = s.get(CatalogItem, item_id)
    if item is None:
        return
    rows = s.execute(
        select(CatalogVersion.version, CatalogVersion.status, CatalogVersion.manifest).where(
            CatalogVersion.item_id == item_id
        )
    ).all()
    item.latest_version = _latest([(r.version, r.status) for r in rows])
    latest = next((r.manifest for r in rows if r.version == item.latest_version), None)
    if latest is not None:
        item.name = latest.get("displayName") or latest["name"]
        item.description = latest.get("description", "") or ""
        item.category = latest.get("category")
        item.tags = list(latest.get("tags") or [])
        item.owner = latest.get("owner") or latest.get("author")
    item.updated_at = utcnow()


def list_items(q: str | None = None, category: str | None = None, tag: str | None = None) -> ItemPage:
    with db.read() as s:
        query = select(CatalogItem).order_by(CatalogItem.name, CatalogItem.id)
        if q:
            like = f"%{q.lower()}%"
            query = query.where(
                or_(CatalogItem.id.like(like), CatalogItem.name.ilike(like), CatalogItem.description.ilike(like))
            )
        if category:
            query = query.where(CatalogItem.category == category)
        items = list(s.scalars(query))
        versions: dict[str, list[str]] = {}
        for item_id, version in s.execute(
            select(CatalogVersion.item_id, CatalogVersion.version).where(CatalogVersion.status == ACTIVE)
        ):
            versions.setdefault(item_id, []).append(version)
    out = [
        ItemOut(
            id=i.id,
            name=i.name,
            description=i.description,
            category=i.category,
            tags=list(i.tags or []),
            owner=i.owner,
            latest_version=i.latest_version,
            versions=sorted(versions.get(i.id, []), key=_sort_key, reverse=True),
            updated_at=i.updated_at,
        )
        for i in items
        if (not tag or tag in (i.tags or [])) and versions.get(i.id)
    ]
    return ItemPage(items=out, total=len(out))


def list_versions(item_id: str) -> list[VersionOut]:
    with db.read() as s:
        if s.get(CatalogItem, item_id) is None:
            raise NotFound(f"catalog item {item_id!r} not found")
        rows = list(s.scalars(select(CatalogVersion).where(CatalogVersion.item_id == item_id)))
    rows.sort(key=lambda v: _sort_key(v.version), reverse=True)
    return [VersionOut.model_validate(v) for v in rows]


def _find_version(s: Session, item_id: str, version: str | None) -> CatalogVersion:
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


def get_descriptor(item_id: str, version: str) -> Descriptor:
    with db.read() as s:
        row = _find_version(s, item_id, version)
    return Descriptor.model_validate(
        {
            "item_id": row.item_id,
            "version": row.version,
            "manifest": row.manifest,
            "schema": row.input_schema,
            "ui_schema": row.ui_schema,
            "readme": row.readme,
            "bundle_sha256": row.bundle_sha256,
            "status": row.status,
        }
    )


@dataclass(frozen=True)
class _BundleFacts:
    entrypoint: str
    timeout_seconds: int
    resources: dict[str, Any]
    validator: Draft7Validator


_facts: dict[str, _BundleFacts] = {}
_VERSION_FACTS = (CatalogVersion.version, CatalogVersion.status, CatalogVersion.bundle_sha256)
_LATEST_VERSION = (
    select(*_VERSION_FACTS)
    .join(CatalogItem, CatalogItem.latest_version == CatalogVersion.version)
    .where(CatalogItem.id == bindparam("item_id"), CatalogVersion.item_id == bindparam("item_id"))
)
_EXACT_VERSION = select(*_VERSION_FACTS).where(
    CatalogVersion.item_id == bindparam("item_id"), CatalogVersion.version == bindparam("version")
)


def resolve_runnable(item_id: str, version: str | None) -> RunnableVersion:
    """The version a new job will run ('latest' or none means the highest active release).

    Only the version's status and bundle are read per call; what follows from the bundle's content (entrypoint,
    limits, the compiled input validator) is computed once per sha256, since a bundle never changes.
    """
    wanted = None if not version or version == LATEST else version
    with db.read() as s:
        if wanted is None:
            row = s.execute(_LATEST_VERSION, {"item_id": item_id}).first()
        else:
            row = s.execute(_EXACT_VERSION, {"item_id": item_id, "version": wanted}).first()
        if row is None:
            _find_version(s, item_id, version)  # raises the precise NotFound
            raise NotFound(f"catalog item {item_id!r} not found", details={"field": "item_id"})
        if row.status != ACTIVE:
            raise Conflict(f"{item_id} {row.version} is {row.status} and cannot run", details={"field": "version"})
        facts = _facts.get(row.bundle_sha256)
        if facts is None:
            manifest, schema = s.execute(
                select(CatalogVersion.manifest, CatalogVersion.input_schema).where(
                    CatalogVersion.item_id == item_id, CatalogVersion.version == row.version
                )
            ).one()
            facts = _BundleFacts(
                entrypoint=manifest["entrypoint"],
                timeout_seconds=int(manifest.get("timeout") or get_settings().job_timeout_seconds),
                resources=dict(manifest.get("resources") or {}),
                validator=Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER),
            )
            _facts[row.bundle_sha256] = facts
    return RunnableVersion(
        item_id=item_id,
        version=row.version,
        bundle_sha256=row.bundle_sha256,
        entrypoint=facts.entrypoint,
        timeout_seconds=facts.timeout_seconds,
        resources=facts.resources,
        validator=facts.validator,
    )


def item_ids_matching(s: Session, q: str) -> list[str]:
    """Ids of items whose id or name contains `q` (used by job search)."""
    like = f"%{q.lower()}%"
    return list(s.scalars(select(CatalogItem.id).where(or_(CatalogItem.id.like(like), CatalogItem.name.ilike(like)))))
