"""Where this process keeps the catalog's bundles: the configured store (files or the database) and its local
cache of extracted bundles, copying the files into the database store, and what the store holds."""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.catalog.blobstore import DatabaseBundleStore
from portal.catalog.bundles import (
    EVICTED_PREFIX,
    BundleCache,
    BundleLimits,
    BundleMissing,
    BundleStore,
    FilesystemBundleStore,
    verified,
)
from portal.catalog.models import Bundle
from portal.db import session as db
from portal.errors import Conflict, NotFound
from portal.fs import file_lock, remove_tree
from portal.settings import Settings, get_settings

REMOVED_PREFIX = ".removed-"
REMOVAL_LOCK = "bundles.lock"
_stores_lock = threading.Lock()


_stores: dict[tuple[Path, str], tuple[BundleStore, BundleCache]] = {}


def _storage(settings: Settings) -> tuple[BundleStore, BundleCache]:
    kind = settings.resolved_bundle_store
    key = (settings.data_dir, kind)  # absolute and resolved already (the setting's validator)
    with _stores_lock:
        if key not in _stores:
            store: BundleStore
            if kind == "database":
                store = DatabaseBundleStore(settings.catalog_bundle_max_bytes)
            else:
                store = FilesystemBundleStore(settings.bundles_dir, settings.catalog_bundle_max_bytes)
            limits = BundleLimits(settings.catalog_max_members, settings.catalog_max_unpacked_bytes)
            _stores[key] = (store, BundleCache(store, settings.bundle_cache_dir, limits))
        return _stores[key]


def bundle_store() -> BundleStore:
    return _storage(get_settings())[0]


def bundle_directory(sha256: str) -> Path:
    """The extracted, read-only folder of a bundle on this node (fetched from the store and verified on a miss)."""
    return _storage(get_settings())[1].directory(sha256)


@dataclass(frozen=True)
class PushReport:
    uploaded: list[str]
    present: int
    missing: list[str]


def push_bundles() -> PushReport:
    """Copy the bundle files of the data directory into the database store (after switching from files).

    Every file is checked against its sha256 first; a bundle the catalog refers to that is neither in the table nor
    in the files is reported as missing. Safe to run again, and from several nodes at once.
    """
    settings = get_settings()
    if settings.resolved_bundle_store != "database":
        raise Conflict(
            "the bundle store is not the database (set PORTAL_BUNDLE_STORE=database)",
            details={"bundle_store": settings.resolved_bundle_store},
        )
    store = DatabaseBundleStore(settings.catalog_bundle_max_bytes)
    files = FilesystemBundleStore(settings.bundles_dir)
    present = store.stored()
    with db.read() as s:
        wanted = set(s.scalars(select(Bundle.sha256)))
    uploaded: list[str] = []
    missing: list[str] = []
    for sha256 in sorted((wanted | set(files.stored())) - present):
        try:
            data = verified(sha256, files.read(sha256))
        except BundleMissing:
            missing.append(sha256)
            continue
        store.put(data)
        uploaded.append(sha256)
    return PushReport(uploaded=uploaded, present=len(present & wanted), missing=missing)


def storage_summary() -> dict[str, Any]:
    """How many bundles the catalog holds and their bytes (from the bundles table, not a walk of the disk), and
    which store keeps them; the database store also reports what its table holds."""
    with db.read() as s:
        count, size = s.execute(select(func.count(Bundle.sha256), func.coalesce(func.sum(Bundle.size), 0))).one()
    summary: dict[str, Any] = {"bundles": int(count), "bundle_bytes": int(size), "bundle_store": bundle_store().kind}
    store = bundle_store()
    if isinstance(store, DatabaseBundleStore):
        summary["stored_bundles"], summary["stored_bundle_bytes"] = store.summary()
    return summary


def cached_bundles() -> dict[str, int]:
    """The bundles extracted on this node (its cache), with their bytes."""
    return _storage(get_settings())[1].entries()


def evict_cached(sha256s: Iterable[str]) -> None:
    """Drop these bundles' extracted folders from this node's cache."""
    cache = _storage(get_settings())[1]
    for sha256 in sha256s:
        cache.evict(sha256)


@contextlib.contextmanager
def removing() -> Iterator[None]:
    """Held while bundles are removed; Conflict while a backup copies the bundle files (it holds them for the
    moments between its database snapshot and the last file it reads)."""
    with file_lock(get_settings().data_dir / REMOVAL_LOCK, shared=False, wait=False) as held:
        if not held:
            raise Conflict("a backup is copying the bundles now: clean up once it has finished")
        yield


@contextlib.contextmanager
def removals_paused() -> Iterator[None]:
    """No bundle file of this data directory is removed while this is held (by several readers at once)."""
    with file_lock(get_settings().data_dir / REMOVAL_LOCK, shared=True, wait=True):
        yield


def remove_stored(s: Session, sha256s: list[str]) -> list[tuple[Path, Path]]:
    """Delete the stored bytes of bundles whose rows the caller deleted in the transaction of `s`: in the database
    store in that transaction; bundle files are renamed aside (returned as (file, aside) pairs), so that
    `settle_removal` deletes them once the transaction committed, or puts them back when it did not: an import
    that stores the same bytes meanwhile writes a new file, never loses one."""
    store = bundle_store()
    if isinstance(store, DatabaseBundleStore):
        store.remove(s, sha256s)
        return []
    aside: list[tuple[Path, Path]] = []
    if isinstance(store, FilesystemBundleStore):
        for sha256 in sha256s:
            path = store.path(sha256)
            moved = path.with_name(f"{REMOVED_PREFIX}{path.name}-{secrets.token_hex(4)}")
            with contextlib.suppress(FileNotFoundError):
                os.rename(path, moved)
                aside.append((path, moved))
    return aside


def sweep_leftovers(older_than: float = 3600.0) -> int:
    """Delete what a crash between a commit and its file work left behind (bundle files set aside, cache
    folders half removed), once it is older than `older_than` seconds; how many went."""
    settings = get_settings()
    deadline = time.time() - older_than
    swept = 0
    for pattern, root in (
        (f"??/{REMOVED_PREFIX}*", settings.bundles_dir),
        (f"{EVICTED_PREFIX}*", settings.bundle_cache_dir),
    ):
        for path in root.glob(pattern) if root.is_dir() else ():
            if path.is_symlink() or path.lstat().st_mtime > deadline:
                continue
            if path.is_dir():
                remove_tree(path)
            else:
                path.unlink(missing_ok=True)
            swept += 1
    return swept


def settle_removal(aside: list[tuple[Path, Path]], committed: bool) -> None:
    """Delete the files `remove_bundles` set aside (committed), or put back those that no new file replaced."""
    for path, moved in aside:
        if committed:
            moved.unlink(missing_ok=True)
        elif not path.exists():
            os.rename(moved, path)
        else:
            moved.unlink(missing_ok=True)


def bundle_content(sha256: str, label: str) -> Path | bytes:
    """A stored bundle to send: its file (the files store) or its verified bytes (the database store); NotFound
    naming `label` when the store has lost it."""
    store = bundle_store()
    try:
        if isinstance(store, FilesystemBundleStore):
            path = store.path(sha256)
            if not path.is_file():
                raise BundleMissing(sha256)
            return path
        return verified(sha256, store.read(sha256))
    except BundleMissing:
        raise NotFound(
            f"the bundle of {label} is missing from the store", details={"sha256": sha256, "store": store.kind}
        ) from None


def forget_stores() -> None:
    """Drop the stores and caches made so far; the next use makes them from the settings of then."""
    with _stores_lock:
        _stores.clear()
