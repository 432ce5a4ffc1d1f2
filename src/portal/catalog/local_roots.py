"""The folders a folder import may read (PORTAL_CATALOG_LOCAL_ROOTS): a path given absolute under one of them or
relative to one, resolved and checked, and the item folders found there (each checked again: a symbolic link in
the tree may point anywhere)."""

from __future__ import annotations

from pathlib import Path

from portal.catalog.importers.local import Candidate, discover
from portal.errors import Forbidden, NotFound, ValidationFailed
from portal.settings import get_settings


def allowed_roots() -> list[Path]:
    """The folders a folder import may read (PORTAL_CATALOG_LOCAL_ROOTS), as absolute paths."""
    return [root.resolve() for root in get_settings().catalog_local_roots]


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long for the file system, say: it cannot be there
        return False


def check_allowed(path: Path, roots: list[Path]) -> Path:
    """`path` resolved under an allowed root: absolute, or relative to a root (the first under which it exists),
    or else to the server's working directory (as before roots took relative paths)."""
    if "\x00" in str(path):
        raise ValidationFailed("invalid path", details=[{"field": "path", "message": "contains a NUL byte"}])
    if len(str(path)) > 4096 or any(len(part) > 255 for part in path.parts):
        raise ValidationFailed("invalid path", details=[{"field": "path", "message": "too long for a file name"}])
    tries = [path] if path.is_absolute() else [*(root / path for root in roots), path]
    found = [candidate.resolve() for candidate in tries]
    ordered = [c for c in found if _exists(c)] + [c for c in found if not _exists(c)]
    for resolved in ordered:
        for root in roots:
            if resolved.is_relative_to(root.resolve()):
                return resolved
    raise Forbidden(
        "the path is not under an allowed catalog root (PORTAL_CATALOG_LOCAL_ROOTS)",
        details={"field": "path", "allowed_roots": [str(r) for r in roots]},
    )


def candidates(path: str, enforce_roots: bool) -> tuple[Path, list[Candidate]]:
    """The item folders under `path`, which (with every folder found) must lie under an allowed root."""
    roots = get_settings().catalog_local_roots
    folder = Path(path)
    if enforce_roots:
        folder = check_allowed(folder, roots)
    if not _exists(folder) or not folder.is_dir():
        raise NotFound(f"folder {path!r} does not exist", details={"field": "path"})
    candidates = discover(folder)
    if enforce_roots:
        for candidate in candidates:  # a symbolic link inside the tree may point anywhere
            check_allowed(candidate.path, roots)
    return folder, candidates
