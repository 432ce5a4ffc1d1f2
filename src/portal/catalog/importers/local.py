"""Find item version folders in a local tree laid out like the original portal's `catalog_local`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from portal.catalog.manifest import parse_version
from portal.catalog.validate import MANIFEST


@dataclass(frozen=True)
class Candidate:
    """A folder that should hold one item version, and the id/version its place in the tree implies."""

    path: Path
    expected_id: str | None
    expected_version: str | None


def _item_dir(path: Path) -> list[Candidate]:
    """`<id>/` holding either a manifest (version from it) or `<version>/` folders."""
    if (path / MANIFEST).is_file():
        return [Candidate(path, path.name, None)]
    return [
        Candidate(child, path.name, child.name)
        for child in sorted(path.iterdir())
        if child.is_dir() and (child / MANIFEST).is_file()
    ]


def discover(root: Path) -> list[Candidate]:
    """Every item version folder under `root`: a version folder, an item folder, `items/`, or a tree holding it."""
    if (root / MANIFEST).is_file():
        parent = root.parent
        if parse_version(root.name) is not None:
            return [Candidate(root, parent.name, root.name)]
        return [Candidate(root, None, None)]
    items = root / "items" if (root / "items").is_dir() else root
    found: list[Candidate] = []
    versions = _item_dir(items)
    if versions and items is root and all(parse_version(c.path.name) for c in versions):
        return versions
    for child in sorted(items.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            try:
                found.extend(_item_dir(child))
            except OSError:  # unreadable: kept as a candidate, so checking it names the problem
                found.append(Candidate(child, child.name, None))
    return found
