"""Uploaded `.tar.gz` bundles: extract safely into a temporary folder and find the item versions inside."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from portal.catalog.bundles import BundleLimits, safe_extract
from portal.catalog.importers.local import Candidate, discover
from portal.catalog.validate import MANIFEST


def sha256_of(fileobj: BinaryIO) -> str:
    digest = hashlib.sha256()
    fileobj.seek(0)
    while chunk := fileobj.read(1 << 20):
        digest.update(chunk)
    fileobj.seek(0)
    return digest.hexdigest()


def _top(folder: Path) -> Path:
    """Archives often wrap everything in one folder: look inside it."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    wrapper = not (folder / MANIFEST).is_file() and not (folder / "items").is_dir() and len(entries) == 1
    if wrapper and entries[0].is_dir():
        return _top(entries[0])
    return folder


@contextmanager
def extracted(fileobj: BinaryIO, workdir: Path, limits: BundleLimits) -> Iterator[tuple[Path, list[Candidate]]]:
    """Extract an upload (refusing hostile members) and yield its root and the item version folders in it."""
    target = workdir / "upload"
    try:
        fileobj.seek(0)
        safe_extract(fileobj, target, limits)
        root = _top(target)
        yield root, discover(root)
    finally:
        shutil.rmtree(target, ignore_errors=True)
