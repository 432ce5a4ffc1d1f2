"""Channels: named pointers to one version of an item, promoted and demoted with their history.

`latest` is built in and computed (the highest active release); `stable` is built in and set by promoting a
version to it; any other name (`canary`, `beta`, ...) is a custom channel. Wherever a version is accepted, a
channel's name may stand for it (`version=stable`); what a job runs is always the exact version it resolved to.
Only a runnable version (active or deprecated) can be promoted; archiving a version (or sending it back before
review) takes it off the channels that point to it.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.catalog import lifecycle
from portal.catalog.manifest import parse_version
from portal.catalog.models import CatalogChannel, CatalogChannelEvent, CatalogItem, CatalogVersion
from portal.db.base import utcnow
from portal.errors import Conflict, NotFound, ValidationFailed
from portal.identity.principal import Principal

LATEST = "latest"
STABLE = "stable"
BUILT_IN = (STABLE, LATEST)
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}\Z")


def is_channel_name(value: str | None) -> bool:
    """Whether `value` names a channel rather than a version (channel names never parse as semver)."""
    return bool(value) and NAME_RE.match(value or "") is not None and parse_version(value or "") is None


def check_name(name: str) -> None:
    if not is_channel_name(name):
        raise ValidationFailed(
            f"{name!r} is not a channel name",
            details=[{"field": "channel", "message": "1-32 characters: a lowercase letter, then letters, digits, -"}],
        )


def stored(s: Session, item_id: str) -> dict[str, str]:
    """The item's stored channels, name -> version (`latest` is not among them)."""
    rows = s.execute(select(CatalogChannel.name, CatalogChannel.version).where(CatalogChannel.item_id == item_id))
    return {str(name): str(version) for name, version in rows.all()}


def version_of(s: Session, item_id: str, name: str) -> str:
    """The version a stored channel points to; NotFound (on `version`) when the item has no such channel."""
    version = s.scalar(
        select(CatalogChannel.version).where(CatalogChannel.item_id == item_id, CatalogChannel.name == name)
    )
    if version is None:
        raise NotFound(f"{item_id} has no channel {name!r}", details={"field": "version", "channel": name})
    return version


def promote(
    s: Session, actor: Principal, item_id: str, name: str, version: str, reason: str | None = None
) -> str | None:
    """Point channel `name` at `version` (a runnable version of the item); returns the version it pointed to."""
    check_name(name)
    if name == LATEST:
        raise Conflict("latest is computed (the highest active release): it cannot be set", details={"channel": name})
    row = s.scalar(select(CatalogVersion).where(CatalogVersion.item_id == item_id, CatalogVersion.version == version))
    if row is None:
        raise NotFound(f"version {version!r} of {item_id!r} not found", details={"field": "version"})
    if row.status not in lifecycle.RUNNABLE:
        raise Conflict(
            f"{item_id} {version} is {row.status}: only an active or deprecated version can be on a channel",
            details={"field": "version", "state": row.status},
        )
    channel = s.get(CatalogChannel, (item_id, name))
    before = channel.version if channel is not None else None
    if before == version:
        return before
    if channel is None:
        s.add(CatalogChannel(item_id=item_id, name=name, version=version, updated_by=actor.username))
    else:
        channel.version, channel.updated_by, channel.updated_at = version, actor.username, utcnow()
    _record(s, actor, item_id, name, before, version, reason)
    return before


def remove(s: Session, actor: Principal, item_id: str, name: str, reason: str | None = None) -> str:
    """Take channel `name` away (`stable` is unset; `latest` cannot be removed); returns its last version."""
    check_name(name)
    if name == LATEST:
        raise Conflict(
            "latest is computed (the highest active release): it cannot be removed", details={"channel": name}
        )
    channel = s.get(CatalogChannel, (item_id, name))
    if channel is None:
        raise NotFound(f"{item_id} has no channel {name!r}", details={"channel": name})
    before = channel.version
    s.delete(channel)
    _record(s, actor, item_id, name, before, None, reason)
    return before


def drop_version(s: Session, actor: Principal, item_id: str, version: str, reason: str) -> list[str]:
    """Take `version` off every channel that points to it (it is no longer runnable); the channels it left."""
    rows = list(
        s.scalars(select(CatalogChannel).where(CatalogChannel.item_id == item_id, CatalogChannel.version == version))
    )
    for channel in rows:
        s.delete(channel)
        _record(s, actor, item_id, channel.name, version, None, reason)
    return [channel.name for channel in rows]


def history(s: Session, item_id: str, limit: int = 100) -> list[CatalogChannelEvent]:
    return list(
        s.scalars(
            select(CatalogChannelEvent)
            .where(CatalogChannelEvent.item_id == item_id)
            .order_by(CatalogChannelEvent.id.desc())
            .limit(limit)
        )
    )


def _record(
    s: Session,
    actor: Principal,
    item_id: str,
    name: str,
    before: str | None,
    after: str | None,
    reason: str | None,
) -> None:
    s.add(
        CatalogChannelEvent(
            item_id=item_id,
            channel=name,
            from_version=before,
            to_version=after,
            reason=reason,
            actor=actor.username,
            at=utcnow(),
        )
    )
    item = s.get(CatalogItem, item_id)
    if item is not None:
        item.updated_at = utcnow()  # the catalog list (which shows channels) changes with it
    audit.record(
        s,
        actor,
        "catalog.channel.promote" if after is not None else "catalog.channel.remove",
        target_type="item",
        target_id=item_id,
        details={"channel": name, "before": {"version": before}, "after": {"version": after}, "reason": reason},
    )
