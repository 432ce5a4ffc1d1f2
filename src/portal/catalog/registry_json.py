"""Migrate the original portal's catalog: `catalog_registry.json` plus its `.tar.gz` bundles.

The registry looks like `{"items": {id: {"versions": {version: {manifest, schema, ui, storage_uri, source,
active}}}}}`. Each version is extracted safely, completed from the registry where its bundle lacks a file,
checked like any import, repacked deterministically and registered; inactive versions are archived. Running it
again changes nothing: versions already registered with the same content are reported unchanged.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from portal.catalog import service as catalog_service
from portal.catalog.importers.local import Candidate
from portal.catalog.importers.upload import extracted
from portal.catalog.validate import MANIFEST, SCHEMA, UI
from portal.errors import PortalError, ValidationFailed
from portal.identity.principal import Principal

ARCHIVED = "archived"


@dataclass
class MigrationReport:
    imported: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def _bundle_path(bundle_dir: Path, item_id: str, version: str, entry: dict[str, Any]) -> Path | None:
    names = [f"{item_id}@{version}.tar.gz"]
    storage_uri = entry.get("storage_uri")
    if isinstance(storage_uri, str) and storage_uri:
        names.insert(0, Path(storage_uri).name)
    for name in names:
        candidate = bundle_dir / name
        if candidate.is_file() and candidate.resolve().is_relative_to(bundle_dir.resolve()):
            return candidate
    return None


def _complete(folder: Path, entry: dict[str, Any]) -> None:
    """Write what the registry knows and the bundle lacks (old bundles sometimes held only task.py)."""
    if not (folder / MANIFEST).exists() and isinstance(entry.get("manifest"), dict):
        (folder / MANIFEST).write_text(yaml.safe_dump(entry["manifest"], sort_keys=False))
    if not (folder / SCHEMA).exists() and isinstance(entry.get("schema"), dict):
        (folder / SCHEMA).write_text(json.dumps(entry["schema"], indent=2))
    if not (folder / UI).exists() and isinstance(entry.get("ui"), dict) and entry["ui"]:
        (folder / UI).write_text(json.dumps(entry["ui"], indent=2))


def migrate(actor: Principal, registry_path: Path, bundle_dir: Path) -> MigrationReport:
    """Import every version of the registry; one failing version does not stop the others."""
    try:
        registry = json.loads(registry_path.read_text())
        items = registry["items"]
        if not isinstance(items, dict):
            raise TypeError("'items' is not an object")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValidationFailed(f"{registry_path} is not a catalog registry: {exc}") from None
    report = MigrationReport()
    for item_id, item in sorted(items.items()):
        versions = item.get("versions", {}) if isinstance(item, dict) else {}
        for version, entry in sorted(versions.items()):
            key = f"{item_id}@{version}"
            if not isinstance(entry, dict):
                report.failed[key] = "the registry entry is not an object"
                continue
            bundle = _bundle_path(bundle_dir, item_id, version, entry)
            if bundle is None:
                report.failed[key] = f"no bundle {item_id}@{version}.tar.gz (or its storage_uri) in {bundle_dir}"
                continue
            try:
                outcome = _migrate_one(actor, item_id, version, entry, bundle, registry_path)
            except PortalError as exc:
                problems = exc.details if isinstance(exc.details, list) else []
                detail = "; ".join(f"{p.get('file')}: {p.get('message')}" for p in problems if isinstance(p, dict))
                report.failed[key] = f"{exc.message}{': ' + detail if detail else ''}"
                continue
            (report.unchanged if outcome == "unchanged" else report.imported).append(key)
    return report


def _migrate_one(
    actor: Principal, item_id: str, version: str, entry: dict[str, Any], bundle: Path, registry_path: Path
) -> str:
    limits = catalog_service.bundle_limits()
    with (
        tempfile.TemporaryDirectory(prefix="portal-migrate-") as tmp,
        open(bundle, "rb") as fh,
        extracted(fh, Path(tmp), limits) as (root, _),
    ):
        _complete(root, entry)
        checked = catalog_service.check_candidates(root, [Candidate(root, item_id, version)], label=bundle.name)

        def source(_item: Any) -> dict[str, Any]:
            return {
                "type": "migrated",
                "registry": str(registry_path),
                "bundle": bundle.name,
                "original_source": entry.get("source"),
            }

        status = catalog_service.ACTIVE if entry.get("active", True) else ARCHIVED
        results = catalog_service.register(actor, checked, source, status=status)
    return results[0].outcome
