"""What changed between two versions of an item, as a reviewer reads it: the files (added, removed, changed, with
a unified diff of each text file, and each added text file's content), the manifest (key by key) and the input
schema (`schema_diff`). A version compared with nothing (an item's first) has every file added."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from portal.catalog import storage
from portal.catalog.models import CatalogVersion

MAX_FILES = 500
MAX_TEXT_BYTES = 256 * 1024  # a larger file is compared by content only
MAX_DIFF_LINES = 2000


def manifest_changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Each top-level manifest key whose value differs: `{key, from, to}` (absent is null)."""
    return [
        {"key": key, "from": old.get(key), "to": new.get(key)}
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def file_changes(old: CatalogVersion | None, new: CatalogVersion) -> dict[str, Any]:
    """The two bundles' files compared: `added`, `removed` and `changed` (each with its unified diff, or a note
    for binary and large files), each added file's content as a diff from nothing (`added_content`), and
    `unchanged` counted. `old` None: compared with nothing."""
    before = _files(_folder(old)) if old is not None else {}
    after = _files(_folder(new))
    changed = []
    unchanged = 0
    for name in sorted(set(before) & set(after)):
        a, b = before[name].read_bytes(), after[name].read_bytes()
        if a == b:
            unchanged += 1
            continue
        changed.append({"path": name, **_text_diff(name, a, b)})
    added = sorted(set(after) - set(before))
    return {
        "added": added,
        "added_content": [{"path": name, **_text_diff(name, b"", after[name].read_bytes())} for name in added],
        "removed": sorted(set(before) - set(after)),
        "changed": changed,
        "unchanged": unchanged,
    }


def _folder(row: CatalogVersion) -> Path:
    return Path(row.dev_path) if row.dev_path else storage.bundle_directory(row.bundle_sha256)


def _files(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if len(found) >= MAX_FILES:
            break
        if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
            found[path.relative_to(root).as_posix()] = path
    return found


def _text_diff(name: str, a: bytes, b: bytes) -> dict[str, Any]:
    if len(a) > MAX_TEXT_BYTES or len(b) > MAX_TEXT_BYTES:
        return {"diff": None, "note": f"larger than {MAX_TEXT_BYTES // 1024} KiB: compared by content only"}
    try:
        old_text, new_text = a.decode(), b.decode()
    except UnicodeDecodeError:
        return {"diff": None, "note": "binary"}
    lines = list(
        difflib.unified_diff(
            old_text.splitlines(keepends=True), new_text.splitlines(keepends=True), f"a/{name}", f"b/{name}"
        )
    )
    cut = len(lines) > MAX_DIFF_LINES
    return {"diff": "".join(lines[:MAX_DIFF_LINES]), "note": f"cut after {MAX_DIFF_LINES} lines" if cut else None}
