"""Which versions of an item a secret's grant covers.

A grant is written `item@<range>` (an npm-style semver range: `^1.2.0`, `>=1.0.0 <2.0.0`, `1.x`,
`1.0.0 || 1.1.0`; prereleases match only a range that names one of the same release, as npm does) or a bare
`item`, which covers the versions of the item that exist when the grant is made: later versions are covered only
when an admin extends the grant. Either way the grant is stored and shown as `item@<range>`, bare grants with
their versions spelled out, so what an admin reads back is what the grant covers.

A grant approves code, not only a version string, so it also pins the bundle of every version it covers that
exists when it is made or extended: a version re-imported with other code (a replace) is no longer covered until
an admin extends the grant again. A version with build metadata (`1.0.0+x`) is covered only by a range that
names it exactly, since semver ignores build metadata when it compares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import nodesemver
import semver
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.catalog.manifest import ID_RE, parse_version
from portal.catalog.models import CatalogVersion
from portal.errors import ValidationFailed

MAX_RANGE_LENGTH = 20_000


@dataclass(frozen=True)
class Grant:
    """Item `item_id`: the versions matching the range `versions`, those in `pins` only with that bundle;
    `bare` when it was asked for as a bare item (its range then lists the versions that existed)."""

    item_id: str
    versions: str
    pins: dict[str, str] = field(default_factory=dict)
    bare: bool = False

    def __str__(self) -> str:
        return f"{self.item_id}@{self.versions}"

    def covers(self, version: str, bundle_sha256: str) -> bool:
        """Whether a version with that bundle may receive the secret."""
        if not in_range(self.versions, version):
            return False
        pinned = self.pins.get(version)
        return pinned is None or pinned == bundle_sha256


def in_range(versions: str, version: str) -> bool:
    """Whether the range `versions` matches `version` (strict semver, no loose forms; an empty range matches
    nothing; build metadata only when the range names the version exactly)."""
    if not versions.strip():
        return False
    if "+" in version and version not in {part.strip().lstrip("=") for part in versions.split("||")}:
        return False
    return bool(nodesemver.satisfies(version, versions, loose=False))


def valid_range(text: str) -> bool:
    """A range as an admin may write it: npm's syntax, no empty alternative (npm reads one as every version)."""
    if not text or len(text) > MAX_RANGE_LENGTH or any(not part.strip() for part in text.split("||")):
        return False
    return nodesemver.valid_range(text, loose=False) is not None


def existing_versions(s: Session, item_id: str) -> list[tuple[str, str]]:
    """Every version of an item in the catalog with its bundle, whatever its state, lowest first."""
    rows = s.execute(
        select(CatalogVersion.version, CatalogVersion.bundle_sha256).where(CatalogVersion.item_id == item_id)
    ).all()
    return sorted(((v, sha) for v, sha in rows), key=lambda row: parse_version(row[0]) or semver.Version(0))


def _exactly(versions: Sequence[str]) -> str:
    return " || ".join(f"={v}" for v in versions)


def parse(s: Session, entries: Sequence[str]) -> list[Grant]:
    """The grants an `items` list asks for, one per item (entries naming the same item are joined), bare ones
    resolved to the versions that exist now. ValidationFailed names each bad entry (`items[i]`)."""
    problems: list[dict[str, str]] = []
    wanted: dict[str, Grant] = {}
    for index, entry in enumerate(entries):
        where = f"items[{index}]"
        item_id, at, text = entry.strip().partition("@")
        if not ID_RE.fullmatch(item_id):
            problems.append(
                {"field": where, "message": f"{item_id!r} is not an item id (lowercase letters, digits, -)"}
            )
            continue
        existing = existing_versions(s, item_id)
        if at:
            versions = " ".join(text.split())
            # An empty range means every version to npm: here that must be written `*`, never left out by mistake.
            if not valid_range(versions):
                message = f"{text!r} is not a semver range (^1.2.0, >=1.0.0 <2.0.0)"
                problems.append({"field": where, "message": message})
                continue
            pins = {v: sha for v, sha in existing if in_range(versions, v)}
            grant = Grant(item_id, versions, pins)
        else:
            if not existing:
                message = f"{item_id} has no versions yet: grant a range of future ones ({item_id}@^1.0.0)"
                problems.append({"field": where, "message": message})
                continue
            grant = Grant(item_id, _exactly([v for v, _ in existing]), dict(existing), bare=True)
        wanted[item_id] = extended(wanted.get(item_id), grant, s)
    if problems:
        raise ValidationFailed("some granted items are not valid", details=problems)
    return [wanted[item_id] for item_id in sorted(wanted)]


def extended(current: Grant | None, addition: Grant, s: Session) -> Grant:
    """`current` widened by `addition`: its range added (unless there already) and its pins taken over; a bare
    item adds the existing versions `current` does not cover (a new one, or one whose code was replaced), so
    extending twice changes nothing."""
    if current is None:
        return addition
    if addition.bare:
        missing = [(v, sha) for v, sha in existing_versions(s, addition.item_id) if not current.covers(v, sha)]
        if not missing:
            return current
        absent = [v for v, _ in missing if not in_range(current.versions, v)]
        versions = f"{current.versions} || {_exactly(absent)}" if absent else current.versions
        return Grant(current.item_id, versions, {**current.pins, **dict(missing)})
    alternatives = [part.strip() for part in current.versions.split("||")]
    versions = current.versions if addition.versions in alternatives else f"{current.versions} || {addition.versions}"
    return Grant(current.item_id, versions, {**current.pins, **addition.pins})
