"""Dependencies between catalog items: a version's manifest names other items with semver ranges; an import
resolves them (a missing one is a problem of the import), and the admin pages show them both ways.

A dependency is satisfied by any version of the other item that is not archived or rejected (a draft counts:
releases are staged together); a version that leaves the runnable states while others depend on it needs a
confirmation naming them (`dependents`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import nodesemver
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.catalog import lifecycle
from portal.catalog.manifest import parse_dependencies
from portal.catalog.models import CatalogDependency, CatalogVersion

# The states whose versions satisfy a dependency at import.
PRESENT = frozenset({lifecycle.DRAFT, lifecycle.IN_REVIEW, lifecycle.ACTIVE, lifecycle.DEPRECATED})


def declared(manifest: dict[str, Any]) -> dict[str, str]:
    """Other item id -> semver range, from a checked manifest (a dependency on itself is dropped)."""
    found, _ = parse_dependencies(manifest.get("dependencies") or [])
    return {other: wanted for other, wanted in found if other != manifest.get("id")}


def satisfies(version: str, wanted: str) -> bool:
    try:
        return bool(nodesemver.satisfies(version, wanted, loose=False))
    except (ValueError, TypeError):
        return False


def unresolved(
    s: Session, versions: Iterable[tuple[str, str, dict[str, str]]], batch: set[tuple[str, str]]
) -> list[dict[str, Any]]:
    """The problems of an import: each dependency no present version satisfies (the catalog's, or one of this
    import's `batch` of (item id, version)). `versions`: (item id, version, its dependencies)."""
    problems = []
    cache: dict[str, list[str]] = {}
    for item_id, version, wanted in versions:
        for other, spec in sorted(wanted.items()):
            if other not in cache:
                cache[other] = list(
                    s.scalars(
                        select(CatalogVersion.version).where(
                            CatalogVersion.item_id == other, CatalogVersion.status.in_(PRESENT)
                        )
                    )
                )
            candidates = cache[other] + [v for i, v in batch if i == other]
            if not any(satisfies(candidate, spec) for candidate in candidates):
                problems.append(
                    {
                        "file": f"{item_id}/{version}/manifest.yaml",
                        "line": None,
                        "message": f"depends on {other} {spec}, which no version in the catalog satisfies"
                        + (f" (it has {', '.join(sorted(cache[other]))})" if cache[other] else ""),
                    }
                )
    return problems


def record(s: Session, item_id: str, version: str, wanted: dict[str, str]) -> None:
    """What a version depends on now (an import or a replace)."""
    s.execute(
        delete(CatalogDependency).where(CatalogDependency.item_id == item_id, CatalogDependency.version == version)
    )
    for other, spec in wanted.items():
        s.add(CatalogDependency(item_id=item_id, version=version, depends_on=other, range=spec))


def forget(s: Session, item_id: str, version: str) -> None:
    s.execute(
        delete(CatalogDependency).where(CatalogDependency.item_id == item_id, CatalogDependency.version == version)
    )


def uses(s: Session, item_id: str) -> list[dict[str, Any]]:
    """What each version of the item depends on, and the highest runnable version that satisfies each."""
    rows = s.execute(
        select(CatalogDependency.version, CatalogDependency.depends_on, CatalogDependency.range).where(
            CatalogDependency.item_id == item_id
        )
    ).all()
    runnable = _runnable({other for _, other, _ in rows}, s)
    return [
        {"version": version, "item_id": other, "range": spec, "resolved": _best(runnable.get(other, []), spec)}
        for version, other, spec in sorted(rows)
    ]


def used_by(s: Session, item_id: str) -> list[dict[str, Any]]:
    """The versions of other items that depend on this one, with their range and the versions that satisfy it."""
    rows = s.execute(
        select(CatalogDependency.item_id, CatalogDependency.version, CatalogDependency.range)
        .join(
            CatalogVersion,
            (CatalogVersion.item_id == CatalogDependency.item_id)
            & (CatalogVersion.version == CatalogDependency.version),
        )
        .where(CatalogDependency.depends_on == item_id, CatalogVersion.status.in_(lifecycle.RUNNABLE))
    ).all()
    mine = _runnable({item_id}, s).get(item_id, [])
    return [
        {"item_id": other, "version": version, "range": spec, "satisfied_by": [v for v in mine if satisfies(v, spec)]}
        for other, version, spec in sorted(rows)
    ]


def dependents(s: Session, item_id: str, version: str) -> list[str]:
    """`item@version` of the runnable versions of other items whose range this version satisfies: what a
    deprecation or an archiving of it must be confirmed against."""
    return sorted(
        f"{entry['item_id']}@{entry['version']}" for entry in used_by(s, item_id) if satisfies(version, entry["range"])
    )


def graph(s: Session) -> dict[str, Any]:
    """Every dependency of runnable versions: nodes (items) and edges (item@version -> item, range, and the
    highest runnable version of that item that satisfies the range, or None)."""
    rows = s.execute(
        select(
            CatalogDependency.item_id, CatalogDependency.version, CatalogDependency.depends_on, CatalogDependency.range
        )
        .join(
            CatalogVersion,
            (CatalogVersion.item_id == CatalogDependency.item_id)
            & (CatalogVersion.version == CatalogDependency.version),
        )
        .where(CatalogVersion.status.in_(lifecycle.RUNNABLE))
        .order_by(CatalogDependency.item_id, CatalogDependency.version, CatalogDependency.depends_on)
    ).all()
    items = sorted({r[0] for r in rows} | {r[2] for r in rows})
    runnable = _runnable({r[2] for r in rows}, s)
    return {
        "items": items,
        "edges": [
            {
                "from": f"{a}@{v}",
                "item_id": a,
                "version": v,
                "to": b,
                "range": spec,
                "resolved": _best(runnable.get(b, []), spec),
            }
            for a, v, b, spec in rows
        ],
    }


def _runnable(item_ids: set[str], s: Session) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if not item_ids:
        return found
    for other, version in s.execute(
        select(CatalogVersion.item_id, CatalogVersion.version).where(
            CatalogVersion.item_id.in_(item_ids), CatalogVersion.status.in_(lifecycle.RUNNABLE)
        )
    ):
        found.setdefault(other, []).append(version)
    return found


def _best(versions: list[str], spec: str) -> str | None:
    try:
        best = nodesemver.max_satisfying(versions, spec, loose=False)
    except (ValueError, TypeError):
        return None
    return str(best) if best else None
