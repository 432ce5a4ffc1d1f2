"""Reading the catalog: the item list (cached per catalog state), versions, descriptors, and the version a new
job will run with the facts its bundle decides (computed once per bundle, since a bundle never changes).
Imports, uploads and the bundle store are `catalog.service`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from sqlalchemy import ColumnElement, Row, bindparam, func, or_, select
from sqlalchemy.orm import Session

from portal.catalog import channels, lifecycle, network, storage
from portal.catalog.manifest import approval_policy, network_need
from portal.catalog.models import CatalogChannel, CatalogItem, CatalogVersion
from portal.catalog.schemas import (
    Descriptor,
    ItemOut,
    ItemPage,
    VersionOut,
)
from portal.catalog.service import DEFAULT_QUEUE, LATEST, find_version, version_sort_key
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict, NotFound
from portal.settings import get_settings


def item_matches(q: str) -> ColumnElement[bool]:
    """Items whose id, name or description contains `q` (any case)."""
    like = f"%{q.lower()}%"
    return or_(CatalogItem.id.like(like), CatalogItem.name.ilike(like), CatalogItem.description.ilike(like))


def list_items(
    q: str | None = None,
    category: str | None = None,
    tag: str | None = None,
    page: int = 1,
    page_size: int = 200,
) -> ItemPage:
    """Items with at least one active version, featured ones first; search and filters apply before paging."""
    conditions: list[Any] = [CatalogItem.latest_version.is_not(None)]
    if q:
        conditions.append(item_matches(q))
    if category:
        conditions.append(CatalogItem.category == category)
    with db.read() as s:
        ordered = (
            select(*_ITEM_COLUMNS)
            .where(*conditions)
            .order_by(CatalogItem.featured.desc(), CatalogItem.name, CatalogItem.id)
        )
        rows = s.execute(ordered).all()
    if tag:
        rows = [r for r in rows if tag in (r.tags or [])]
    window = rows[(page - 1) * page_size : page * page_size]
    return ItemPage(items=_items_out(window), total=len(rows))


def get_item(item_id: str, *, unreleased: bool = False) -> ItemOut:
    """One item as the catalog shows it (its metadata, channels and notice); one without a runnable version only
    when `unreleased` (a NotFound otherwise, as if it did not exist)."""
    with db.read() as s:
        row = s.execute(select(*_ITEM_COLUMNS).where(CatalogItem.id == item_id)).one_or_none()
    if row is None or (row.latest_version is None and not unreleased):
        raise NotFound(f"catalog item {item_id!r} not found")
    return _items_out([row])[0]


def _items_out(rows: Sequence[Row[Any]]) -> list[ItemOut]:
    pointers: dict[str, dict[str, str]] = {}
    if rows:
        with db.read() as s:
            for item_id, name, version in s.execute(
                select(CatalogChannel.item_id, CatalogChannel.name, CatalogChannel.version).where(
                    CatalogChannel.item_id.in_([r.id for r in rows])
                )
            ).all():
                pointers.setdefault(item_id, {})[name] = version
    return [
        ItemOut.model_validate(
            {
                **r._mapping,
                "network_allowed": network.covers(r.network_grant, r.network),
                "channels": pointers.get(r.id, {}),
            },
            from_attributes=True,
        )
        for r in rows
    ]


_list_cache: dict[tuple[Any, ...], tuple[tuple[Any, ...], bytes]] = {}
_LIST_CACHE_ENTRIES = 256


def list_items_json(
    q: str | None = None,
    category: str | None = None,
    tag: str | None = None,
    page: int = 1,
    page_size: int = 200,
) -> bytes:
    """`list_items` as JSON, reused until the catalog changes.

    Every catalog change bumps an item's `updated_at` (or the number of items), so one indexed aggregate tells
    whether a cached answer is still right; this holds across processes sharing the database.
    """
    key = (q, category, tag, page, page_size)
    with db.read() as s:
        stamp = tuple(s.execute(_CATALOG_STAMP).one())
    cached = _list_cache.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    body = list_items(q, category, tag, page, page_size).model_dump_json().encode()
    if len(_list_cache) >= _LIST_CACHE_ENTRIES:
        _list_cache.clear()
    _list_cache[key] = (stamp, body)
    return body


_CATALOG_STAMP = select(func.max(CatalogItem.updated_at), func.count(CatalogItem.id))
_ITEM_COLUMNS = (
    CatalogItem.id,
    CatalogItem.name,
    CatalogItem.description,
    CatalogItem.category,
    CatalogItem.tags,
    CatalogItem.owner,
    CatalogItem.latest_version,
    CatalogItem.versions,
    CatalogItem.updated_at,
    CatalogItem.network,
    CatalogItem.network_grant,
    CatalogItem.featured,
    CatalogItem.notice,
)


def list_versions(item_id: str, every_state: bool = False) -> list[VersionOut]:
    """The versions offered (active and deprecated), or with `every_state` every one, highest first."""
    conditions = [CatalogVersion.item_id == item_id]
    if not every_state:
        conditions.append(CatalogVersion.status.in_(lifecycle.OFFERED))
    with db.read() as s:
        if s.get(CatalogItem, item_id) is None:
            raise NotFound(f"catalog item {item_id!r} not found")
        rows = list(s.scalars(select(CatalogVersion).where(*conditions)))
        on: dict[str, list[str]] = {}
        for name, version in sorted(channels.stored(s, item_id).items(), key=lambda c: c[0] != channels.STABLE):
            on.setdefault(version, []).append(name)
    rows.sort(key=lambda v: version_sort_key(v.version), reverse=True)
    return [version_out(v).model_copy(update={"channels": on.get(v.version, [])}) for v in rows]


def version_out(row: CatalogVersion) -> VersionOut:
    """A version as the catalog shows it: `deprecated` holds the reason when it is deprecated."""
    note = (row.status_reason or "deprecated") if row.status == lifecycle.DEPRECATED else None
    return VersionOut.model_validate(row).model_copy(update={"deprecated": note})


def get_descriptor(item_id: str, version: str) -> Descriptor:
    with db.read() as s:
        row = find_version(s, item_id, version)
        grant = s.scalar(select(CatalogItem.network_grant).where(CatalogItem.id == item_id))
    need = network_need(row.manifest)
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
            "network": need,
            "network_allowed": network.covers(grant, need),
        }
    )


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
    dev_path: str | None = None
    approval: dict[str, Any] | None = None
    secrets: tuple[str, ...] = ()
    sensitive: tuple[str, ...] = ()
    queue: str = "default"
    priority: int = 0
    deprecated: str | None = None  # why, when the version is deprecated
    network: dict[str, Any] | None = None  # what network access it declares (manifest.network_need)
    validate_at_launch: bool = True  # its `validate` runs before a job is created (manifest opt-out: false)


def sensitive_fields(schema: dict[str, Any]) -> tuple[str, ...]:
    """Top-level inputs marked `"writeOnly": true` or `"format": "password"`: masked wherever inputs are shown."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return ()
    return tuple(
        name
        for name, spec in properties.items()
        if isinstance(spec, dict) and (spec.get("writeOnly") is True or spec.get("format") == "password")
    )


# What follows from a bundle's content, per sha256 (a bundle never changes): the version as first resolved.
_by_bundle: dict[str, RunnableVersion] = {}
_VERSION_FACTS = (
    CatalogVersion.version,
    CatalogVersion.status,
    CatalogVersion.status_reason,
    CatalogVersion.sunset_at,
    CatalogVersion.bundle_sha256,
    CatalogVersion.dev_path,
)
_LATEST_VERSION = (
    select(*_VERSION_FACTS)
    .join(CatalogItem, CatalogItem.latest_version == CatalogVersion.version)
    .where(CatalogItem.id == bindparam("item_id"), CatalogVersion.item_id == bindparam("item_id"))
)
_EXACT_VERSION = select(*_VERSION_FACTS).where(
    CatalogVersion.item_id == bindparam("item_id"), CatalogVersion.version == bindparam("version")
)


def resolve_runnable(item_id: str, version: str | None, *, any_state: bool = False) -> RunnableVersion:
    """The version a new job will run ('latest' or none means the highest active release).

    Only the version's status and bundle are read per call; what follows from the bundle's content (entrypoint,
    limits, the compiled input validator) is computed once per sha256, since a bundle never changes.
    """
    wanted = None if not version or version == LATEST else version
    with db.read() as s:
        if wanted is not None and channels.is_channel_name(wanted):
            find_version(s, item_id, wanted)  # the precise NotFound: no such item, or no such channel
            wanted = channels.version_of(s, item_id, wanted)
        # On the connection: the ORM's statement machinery would cost more than this one-row read (every launch).
        if wanted is None:
            row = s.connection().execute(_LATEST_VERSION, {"item_id": item_id}).first()
        else:
            row = s.connection().execute(_EXACT_VERSION, {"item_id": item_id, "version": wanted}).first()
        if row is None:
            find_version(s, item_id, version)  # raises the precise NotFound
            raise NotFound(f"catalog item {item_id!r} not found", details={"field": "item_id"})
        if any_state:  # a test or a dry run: any version still in the catalog
            if row.status == lifecycle.ARCHIVED:
                raise Conflict(f"{item_id} {row.version} is archived", details={"field": "version"})
        elif row.status not in lifecycle.RUNNABLE:
            raise Conflict(f"{item_id} {row.version} is {row.status} and cannot run", details={"field": "version"})
        elif row.sunset_at is not None and row.sunset_at <= utcnow():
            raise Conflict(
                f"{item_id} {row.version} was deprecated until {row.sunset_at.isoformat()} and no longer runs",
                details={"field": "version", "sunset_at": row.sunset_at.isoformat()},
            )
        known = _by_bundle.get(row.bundle_sha256)
        if known is None:
            manifest, schema = s.execute(
                select(CatalogVersion.manifest, CatalogVersion.input_schema).where(
                    CatalogVersion.item_id == item_id, CatalogVersion.version == row.version
                )
            ).one()
            known = _by_bundle[row.bundle_sha256] = RunnableVersion(
                item_id=item_id,
                version=row.version,
                bundle_sha256=row.bundle_sha256,
                entrypoint=manifest["entrypoint"],
                timeout_seconds=int(manifest.get("timeout") or get_settings().job_timeout_seconds),
                resources=dict(manifest.get("resources") or {}),
                validator=Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER),
                approval=approval_policy(manifest),
                secrets=tuple(manifest.get("secrets") or ()),
                sensitive=sensitive_fields(schema),
                queue=str(manifest.get("queue") or DEFAULT_QUEUE),
                priority=int(manifest.get("priority") or 0),
                network=network_need(manifest),
                validate_at_launch=manifest.get("validate_at_launch") is not False,
            )
    deprecated = (row.status_reason or "deprecated") if row.status == lifecycle.DEPRECATED else None
    return replace(known, item_id=item_id, version=row.version, dev_path=row.dev_path, deprecated=deprecated)


def is_idempotent(item_id: str, version: str) -> bool:
    """Whether a version's manifest declares `idempotent: true` (running it twice is harmless)."""
    with db.read() as s:
        manifest = s.scalar(
            select(CatalogVersion.manifest).where(CatalogVersion.item_id == item_id, CatalogVersion.version == version)
        )
    return isinstance(manifest, dict) and manifest.get("idempotent") is True


def item_ids_matching(s: Session, q: str) -> list[str]:
    """Ids of items whose id or name contains `q` (used by job search)."""
    like = f"%{q.lower()}%"
    return list(s.scalars(select(CatalogItem.id).where(or_(CatalogItem.id.like(like), CatalogItem.name.ilike(like)))))


def bundle_file(item_id: str, version: str) -> tuple[Path | bytes, str]:
    """The stored bundle of a version (a file to send, or its verified bytes) and a download name for it."""
    with db.read() as s:
        row = find_version(s, item_id, version)
    return storage.bundle_content(
        row.bundle_sha256, f"{row.item_id} {row.version}"
    ), f"{row.item_id}@{row.version}.tar.gz"
