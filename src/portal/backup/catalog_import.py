"""Importing a catalog export, idempotently: each version not yet here goes through this portal's own import
(validation, quotas, dependencies, review policy, tests), one at a time so that one bad version stops no other;
a version here with the same bundle is unchanged, with another bundle a conflict that keeps what is here.
What the exporting portal decided is carried over only where this portal has not decided yet: the lifecycle of
the versions this import adds (deprecated, archived; drafts and versions in review arrive as drafts), the
channels this portal lacks, and the metadata and policies of the items this import creates. A second import of
the same export changes nothing."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from portal.audit import service as audit
from portal.backup.archive import CATALOG, CATALOG_EXPORT, ArchiveError, VerifiedArchive, bundle_member, verify
from portal.backup.transfer_schemas import (
    CatalogImportReport,
    ExportedCatalog,
    ExportedItem,
    ExportedVersion,
    ExportHeader,
)
from portal.backup.transfer_schemas import TransferredVersion as Transferred
from portal.catalog import administration, import_failures, lifecycle
from portal.catalog.admin_schemas import ItemUpdate
from portal.catalog.importers.upload import extracted
from portal.catalog.models import CatalogChannel, CatalogItem, CatalogVersion
from portal.catalog.service import bundle_limits, check_candidates, register
from portal.db import session as db
from portal.errors import PortalError, ValidationFailed
from portal.identity.principal import Principal
from portal.jobs import item_tests
from portal.settings import get_settings

_AS_DRAFT = {lifecycle.DRAFT, lifecycle.IN_REVIEW}  # not approved there: approved here or not at all
_AFTERWARDS = {lifecycle.DEPRECATED: "deprecated", lifecycle.ARCHIVED: "archived"}


def _catalog(archive: VerifiedArchive) -> tuple[ExportHeader, ExportedCatalog]:
    """The export's header and catalog, checked before anything changes."""
    with archive.open() as tar:
        raw = archive.read_member(tar, CATALOG)
    try:
        header = ExportHeader.model_validate(archive.header)
        return header, ExportedCatalog.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise ArchiveError(f"the export's {CATALOG} is not a catalog this portal reads: {str(exc)[:300]}") from None


Key = tuple[str, str]  # (item id, version) or (item id, channel)


def _existing(items: list[ExportedItem]) -> tuple[dict[Key, CatalogVersion], set[str], set[Key]]:
    """What is here already: the versions by (item, version), the items, and the channels."""
    ids = [item.id for item in items]
    with db.read() as s:
        rows = s.scalars(select(CatalogVersion).where(CatalogVersion.item_id.in_(ids)))
        versions = {(v.item_id, v.version): v for v in rows}
        known = set(s.scalars(select(CatalogItem.id).where(CatalogItem.id.in_(ids))))
        query = select(CatalogChannel.item_id, CatalogChannel.name).where(CatalogChannel.item_id.in_(ids))
        channels = {(item_id, name) for item_id, name in s.execute(query)}
    return versions, known, channels


def import_catalog(actor: Principal, path: Path, *, dry_run: bool = False) -> CatalogImportReport:
    """Import (or with `dry_run`, preview) the catalog export at `path`."""
    archive = verify(path, CATALOG_EXPORT)
    header, exported = _catalog(archive)
    here, known_items, known_channels = _existing(exported.items)
    results: dict[Key, Transferred] = {}
    waiting: list[tuple[ExportedItem, ExportedVersion]] = []
    for item in exported.items:
        for version in item.versions:
            key = (item.id, version.version)
            current = here.get(key)
            if current is not None:
                # The same files packed by another zlib are another bundle but the same version.
                same = current.bundle_sha256 == version.bundle_sha256 or (
                    current.tree_digest is not None and current.tree_digest == version.tree_digest
                )
                outcome = "unchanged" if same else "conflict"
                problems = None if same else {"here": current.bundle_sha256, "export": version.bundle_sha256}
                results[key] = Transferred(
                    item_id=item.id, version=version.version, outcome=outcome, state=current.status, problems=problems
                )
            elif version.state == lifecycle.REJECTED:
                results[key] = Transferred(item_id=item.id, version=version.version, outcome="skipped")
            elif version.bundle_sha256 not in archive.bundles:
                problems = {"bundle_sha256": version.bundle_sha256, "message": "the export lacks its bundle"}
                results[key] = Transferred(
                    item_id=item.id, version=version.version, outcome="failed", problems=problems
                )
            elif dry_run:
                results[key] = Transferred(item_id=item.id, version=version.version, outcome="new")
            else:
                waiting.append((item, version))
    notes: list[str] = []
    channels_set: list[str] = []
    configured: list[str] = []
    if dry_run:
        new_items = {key[0] for key, r in results.items() if r.outcome == "new"} - known_items
        configured = sorted(new_items)
        channels_set = [
            f"{item.id}:{name} -> {version}"
            for item in exported.items
            for name, version in sorted(item.channels.items())
            if (item.id, name) not in known_channels
        ]
    else:
        results.update(_import_versions(actor, archive, waiting))
        imported = {key for key, r in results.items() if r.outcome == "imported"}
        notes += _carry_lifecycle(actor, exported, imported, results)
        configured, more = _configure_new_items(actor, exported, known_items, imported)
        notes += more
        channels_set, more = _set_channels(actor, exported, known_channels)
        notes += more
    ordered = [results[(i.id, v.version)] for i in exported.items for v in i.versions]
    report = CatalogImportReport(
        dry_run=dry_run,
        exported_at=header.created_at,
        exported_from=header.host,
        versions=ordered,
        imported=sum(r.outcome == "imported" for r in ordered),
        unchanged=sum(r.outcome == "unchanged" for r in ordered),
        conflicts=sum(r.outcome == "conflict" for r in ordered),
        failed=sum(r.outcome == "failed" for r in ordered),
        skipped=sum(r.outcome == "skipped" for r in ordered),
        channels_set=channels_set,
        items_configured=configured,
        notes=notes,
    )
    if not dry_run:
        counts = report.model_dump(include={"imported", "unchanged", "conflicts", "failed", "skipped"})
        details = {**counts, "from": report.exported_from, "exported_at": report.exported_at}
        with db.write() as s:
            audit.record(s, actor, "catalog.import_export", target_type="catalog", details=details)
    return report


def _import_versions(
    actor: Principal, archive: VerifiedArchive, waiting: list[tuple[ExportedItem, ExportedVersion]]
) -> dict[Key, Transferred]:
    """Import each version on its own; a version whose dependencies come later in the export is tried again
    once the others are in, until a round adds nothing."""
    results: dict[Key, Transferred] = {}
    errors: dict[Key, PortalError] = {}
    with archive.open() as tar:
        while waiting:
            later: list[tuple[ExportedItem, ExportedVersion]] = []
            for item, version in waiting:
                key = (item.id, version.version)
                try:
                    data = archive.read_member(tar, bundle_member(version.bundle_sha256))
                    state = _import_one(actor, item.id, version, data)
                    results[key] = Transferred(
                        item_id=item.id, version=version.version, outcome="imported", state=state
                    )
                except PortalError as exc:
                    errors[key] = exc
                    failed = Transferred(
                        item_id=item.id,
                        version=version.version,
                        outcome="failed",
                        problems={"message": exc.message, "details": exc.details},
                    )
                    results[key] = failed
                    if isinstance(exc, ValidationFailed) and "dependency" in exc.message:
                        later.append((item, version))
            if len(later) == len(waiting):
                break  # no progress: what is left fails with its problems
            waiting = later
    for (failed_item, failed_version), error in sorted(errors.items()):
        if results[(failed_item, failed_version)].outcome == "failed":
            target = f"catalog export: {failed_item} {failed_version}"
            import_failures.record("catalog_export", target, actor.username, error, failed_item, failed_version)
    return results


def _import_one(actor: Principal, item_id: str, version: ExportedVersion, data: bytes) -> str:
    """Register one exported bundle through this portal's import; the state it is in here."""
    tmp = get_settings().data_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(dir=tmp, prefix="catalog-import-") as work,
        extracted(io.BytesIO(data), Path(work), bundle_limits()) as (root, candidates),
    ):
        folders = check_candidates(root, candidates, label=f"{item_id} {version.version}")
        found = [(f.manifest["id"], f.manifest["version"]) for f in folders]
        if found != [(item_id, version.version)]:
            raise ValidationFailed(
                f"the export's bundle of {item_id} {version.version} holds {found} instead",
                details=[{"field": "bundle", "message": "another item or version"}],
            )

        def source(_: Any) -> dict[str, Any]:
            return {"type": "catalog_export", "bundle_sha256": version.bundle_sha256}

        imported = register(actor, folders, source, draft=version.state in _AS_DRAFT)
    item_tests.start_for_imported(actor, imported)
    with db.read() as s:
        row = s.scalar(
            select(CatalogVersion).where(CatalogVersion.item_id == item_id, CatalogVersion.version == version.version)
        )
        return row.status if row is not None else "unknown"


def _carry_lifecycle(
    actor: Principal,
    exported: ExportedCatalog,
    imported: set[Key],
    results: dict[Key, Transferred],
) -> list[str]:
    """Deprecate or archive the versions this import added that were so in the exporting portal."""
    notes: list[str] = []
    for item in exported.items:
        for version in item.versions:
            key = (item.id, version.version)
            if key not in imported or version.state not in _AFTERWARDS:
                continue
            reason = version.reason or f"{_AFTERWARDS[version.state]} in the exporting portal"
            try:
                moved = administration.transition(actor, item.id, version.version, version.state, reason)
                results[key] = results[key].model_copy(update={"state": moved.state})
            except PortalError as exc:
                notes.append(f"{item.id} {version.version} stays {results[key].state}: {exc.message}")
    return notes


def _configure_new_items(
    actor: Principal, exported: ExportedCatalog, known: set[str], imported: set[Key]
) -> tuple[list[str], list[str]]:
    """Give the items this import created the exporting portal's metadata and policies."""
    configured: list[str] = []
    notes: list[str] = []
    created = {item_id for item_id, _ in imported} - known
    for item in exported.items:
        if item.id not in created:
            continue
        given = dict(item.settings)
        # Maintainers are usernames of the other portal: here they may be other people.
        if given.pop("maintainers", None):
            notes.append(f"{item.id}: its maintainers there are not carried over")
        if not given:
            continue
        try:
            administration.update_item(actor, item.id, ItemUpdate.model_validate(given))
            configured.append(item.id)
        except ValidationError as exc:
            notes.append(f"{item.id} keeps this portal's defaults: {str(exc).splitlines()[0]}")
        except PortalError as exc:
            notes.append(f"{item.id} keeps this portal's defaults: {exc.message}")
    return configured, notes


def _set_channels(actor: Principal, exported: ExportedCatalog, known: set[Key]) -> tuple[list[str], list[str]]:
    """The exported custom channels this portal lacks, where their version runs here."""
    done: list[str] = []
    notes: list[str] = []
    for item in exported.items:
        for name, version in sorted(item.channels.items()):
            if (item.id, name) in known:
                continue
            try:
                administration.set_channel(actor, item.id, name, version, "as in the exporting portal")
                done.append(f"{item.id}:{name} -> {version}")
            except PortalError as exc:
                notes.append(f"channel {item.id}:{name} not set: {exc.message}")
    return done, notes
