"""Which versions of an item a secret's grant covers.

A grant is written `item@<range>` (an npm-style semver range: `^1.2.0`, `>=1.0.0 <2.0.0`, `1.x`,
`1.0.0 || 1.1.0`; prereleases match only a range that names one of the same release, as npm does) or a bare
`item`, which covers the versions of the item that exist when the grant is made: later versions are covered only
when an admin extends the grant. Either way the grant is stored and shown as `item@<range>`, bare grants with
their versions spelled out, so what an admin reads back is what the grant covers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import nodesemver
import semver
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.catalog.manifest import ID_RE, parse_version
from portal.catalog.models import CatalogVersion
from portal.errors import ValidationFailed

MAX_RANGE_LENGTH = 4000


@dataclass(frozen=True)
class Grant:
    """Item `item_id`, the versions matching the range `versions`; `bare` when it was asked for as a bare item
    (its range then lists the versions that existed)."""

    item_id: str
    versions: str
    bare: bool = False

    def __str__(self) -> str:
        return f"{self.item_id}@{self.versions}"


def covers(versions: str, version: str) -> bool:
    """Whether the range `versions` covers `version` (strict semver: no loose forms)."""
    return bool(nodesemver.satisfies(version, versions, loose=False))


def existing_versions(s: Session, item_id: str) -> list[str]:
    """Every version of an item in the catalog, whatever its state, lowest first."""
    versions = list(s.scalars(select(CatalogVersion.version).where(CatalogVersion.item_id == item_id)))
    return sorted(versions, key=lambda v: parse_version(v) or semver.Version(0))


def _exactly(versions: Iterable[str]) -> str:
    return " || ".join(f"={v}" for v in versions)


def _union(first: str, second: str) -> str:
    return f"{first} || {second}"


def parse(s: Session, entries: Sequence[str]) -> list[Grant]:
    """The grants an `items` list asks for, one per item (entries naming the same item are joined), bare ones
    resolved to the versions that exist now. ValidationFailed names each bad entry (`items[i]`)."""
    problems: list[dict[str, str]] = []
    wanted: dict[str, Grant] = {}
    for index, entry in enumerate(entries):
        field = f"items[{index}]"
        item_id, at, text = entry.strip().partition("@")
        if not ID_RE.match(item_id):
            message = f"{item_id!r} is not an item id (lowercase letters, digits, -)"
            problems.append({"field": field, "message": message})
            continue
        if at:
            versions = " ".join(text.split())
            # An empty range means every version to npm: here it must be written `*`, never left out by mistake.
            if (
                not versions
                or len(versions) > MAX_RANGE_LENGTH
                or nodesemver.valid_range(versions, loose=False) is None
            ):
                problems.append({"field": field, "message": f"{text!r} is not a semver range (^1.2.0, >=1.0.0 <2.0.0)"})
                continue
            grant = Grant(item_id, versions)
        else:
            existing = existing_versions(s, item_id)
            if not existing:
                message = f"{item_id} has no versions yet: grant a range of future ones ({item_id}@^1.0.0)"
                problems.append({"field": field, "message": message})
                continue
            grant = Grant(item_id, _exactly(existing), bare=True)
        wanted[item_id] = extended(wanted.get(item_id), grant, s)
    if problems:
        raise ValidationFailed("some granted items are not valid", details=problems)
    return [wanted[item_id] for item_id in sorted(wanted)]


def extended(current: Grant | None, addition: Grant, s: Session) -> Grant:
    """`current` widened by `addition`: a range is added as is, a bare item adds the existing versions that
    `current` does not cover yet (so extending twice changes nothing)."""
    if current is None:
        return addition
    if addition.bare:
        missing = [v for v in existing_versions(s, addition.item_id) if not covers(current.versions, v)]
        return Grant(current.item_id, _union(current.versions, _exactly(missing))) if missing else current
    if addition.versions in current.versions.split(" || "):
        return current
    return Grant(current.item_id, _union(current.versions, addition.versions))
