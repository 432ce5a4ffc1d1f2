"""What changed between two versions of an item, as a reviewer reads it: the files (added, removed, changed, with
a unified diff of each text file, and each added text file's content), the manifest (key by key) and the input
schema (`schema_diff`). A version compared with nothing (an item's first) has every file added.

A bundle may hold up to 64 MiB, so what a diff shows is bounded: files are compared in chunks, only files up to
`MAX_TEXT_BYTES` are read as text, and the text shown stops at `MAX_SHOWN_CHARS` in all (later files are listed
with a note). A development version's live folder is read as a bundle would be (no `.git`, no caches)."""

from __future__ import annotations

import difflib
import filecmp
import os
from pathlib import Path
from typing import Any

from portal.catalog import storage
from portal.catalog.bundles import left_out
from portal.catalog.models import CatalogVersion

MAX_FILES = 500
MAX_TEXT_BYTES = 256 * 1024  # a larger file is compared by content only
MAX_DIFF_LINES = 2000
MAX_SHOWN_CHARS = 2 * 1024 * 1024


def manifest_changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Each top-level manifest key whose value differs: `{key, from, to}` (absent is null)."""
    return [
        {"key": key, "from": old.get(key), "to": new.get(key)}
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def file_changes(old: CatalogVersion | None, new: CatalogVersion) -> dict[str, Any]:
    """The two bundles' files compared: `added`, `removed` and `changed` (each with its unified diff, or a note
    for binary, large or not shown files), each added file's content as a diff from nothing (`added_content`),
    `unchanged` counted, and a `note` when not every file was compared. `old` None: compared with nothing."""
    before, before_cut = _files(_folder(old)) if old is not None else ({}, False)
    after, after_cut = _files(_folder(new))
    budget = _Budget()
    changed = []
    unchanged = 0
    for name in sorted(set(before) & set(after)):
        if filecmp.cmp(before[name], after[name], shallow=False):
            unchanged += 1
            continue
        changed.append({"path": name, **budget.diff(name, before[name], after[name])})
    added = sorted(set(after) - set(before))
    return {
        "added": added,
        "added_content": [{"path": name, **budget.diff(name, None, after[name])} for name in added],
        "removed": sorted(set(before) - set(after)),
        "changed": changed,
        "unchanged": unchanged,
        "note": f"only the first {MAX_FILES} files of each version are compared" if before_cut or after_cut else None,
    }


def _folder(row: CatalogVersion) -> Path:
    return Path(row.dev_path) if row.dev_path else storage.bundle_directory(row.bundle_sha256)


def _files(root: Path) -> tuple[dict[str, Path], bool]:
    """The regular files a bundle of `root` would hold, by relative path, and whether there were more than
    `MAX_FILES`."""
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not left_out(d))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if left_out(name) or path.is_symlink() or not path.is_file():
                continue
            if len(found) >= MAX_FILES:
                return found, True
            found[path.relative_to(root).as_posix()] = path
    return found, False


class _Budget:
    """The text one comparison may still show (`MAX_SHOWN_CHARS` over all its files)."""

    def __init__(self) -> None:
        self.left = MAX_SHOWN_CHARS

    def diff(self, name: str, old: Path | None, new: Path) -> dict[str, Any]:
        """`new`'s unified diff against `old` (None: nothing), or a note saying why it is not shown."""
        if self.left <= 0:
            return {"diff": None, "note": f"not shown: this comparison shows {MAX_SHOWN_CHARS // 1024} KiB of text"}
        if (old is not None and old.stat().st_size > MAX_TEXT_BYTES) or new.stat().st_size > MAX_TEXT_BYTES:
            return {"diff": None, "note": f"larger than {MAX_TEXT_BYTES // 1024} KiB: compared by content only"}
        try:
            old_text = old.read_bytes().decode() if old is not None else ""
            new_text = new.read_bytes().decode()
        except UnicodeDecodeError:
            return {"diff": None, "note": "binary"}
        if "\x00" in old_text or "\x00" in new_text:
            return {"diff": None, "note": "binary"}
        if old is None and not new_text:
            return {"diff": None, "note": "empty"}
        lines = list(
            difflib.unified_diff(
                old_text.splitlines(keepends=True), new_text.splitlines(keepends=True), f"a/{name}", f"b/{name}"
            )
        )
        text = "".join(lines[:MAX_DIFF_LINES])
        note = f"cut after {MAX_DIFF_LINES} lines" if len(lines) > MAX_DIFF_LINES else None
        if len(text) > self.left:
            text, note = text[: self.left], f"cut: this comparison shows {MAX_SHOWN_CHARS // 1024} KiB of text"
        self.left -= len(text)
        return {"diff": text, "note": note}
