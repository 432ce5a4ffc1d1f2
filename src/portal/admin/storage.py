"""The bundle browser: every stored bundle with what refers to it (item versions, and the jobs whose history keeps
it), and a bundle's files read-only. Here, above the catalog and the jobs, because it joins both."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import func, or_, select

from portal.admin import paging
from portal.admin.storage_schemas import (
    BundleFile,
    BundleFileContent,
    BundleFiles,
    BundleOut,
    BundlePage,
    BundleReference,
)
from portal.catalog import storage
from portal.catalog.bundles import BundleMissing
from portal.catalog.models import Bundle, CatalogVersion
from portal.db import session as db
from portal.errors import NotFound, ValidationFailed
from portal.jobs.models import Job

SORTS = {"created_at": Bundle.created_at, "size": Bundle.size, "sha256": Bundle.sha256}
MAX_PAGE_SIZE = 200
MAX_TEXT_BYTES = 256 * 1024


def list_bundles(
    *, q: str | None = None, sort: str = "created_at", descending: bool = True, page: int = 1, page_size: int = 50
) -> BundlePage:
    """Every bundle of the catalog, filtered by a sha256 prefix or the id of an item that refers to it, sorted
    and paged, each with its references, its jobs and when it was last used."""
    order = paging.order_by(SORTS, sort, descending, Bundle.sha256)
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    conditions: list[Any] = []
    if q:
        referring = select(CatalogVersion.bundle_sha256).where(CatalogVersion.item_id.contains(q, autoescape=True))
        conditions.append(or_(Bundle.sha256.startswith(q.lower(), autoescape=True), Bundle.sha256.in_(referring)))
    last_used = (
        select(Job.created_at)
        .where(Job.bundle_sha256 == Bundle.sha256)
        .order_by(Job.id.desc())
        .limit(1)
        .correlate(Bundle)
        .scalar_subquery()
    )
    with db.read() as s:
        total = s.scalar(select(func.count()).select_from(Bundle).where(*conditions)) or 0
        rows = s.execute(
            select(Bundle, last_used)
            .where(*conditions)
            .order_by(*order)
            .limit(page_size)
            .offset((page - 1) * page_size)
        ).all()
        shas = [bundle.sha256 for bundle, _ in rows]
        references: dict[str, list[BundleReference]] = {}
        for sha256, item_id, version, state in s.execute(
            select(CatalogVersion.bundle_sha256, CatalogVersion.item_id, CatalogVersion.version, CatalogVersion.status)
            .where(CatalogVersion.bundle_sha256.in_(shas))
            .order_by(CatalogVersion.item_id, CatalogVersion.id)
        ):
            references.setdefault(sha256, []).append(BundleReference(item_id=item_id, version=version, state=state))
        jobs = dict(
            s.execute(
                select(Job.bundle_sha256, func.count()).where(Job.bundle_sha256.in_(shas)).group_by(Job.bundle_sha256)
            ).all()
        )
    return BundlePage(
        items=[
            BundleOut(
                sha256=bundle.sha256,
                size=bundle.size,
                created_at=bundle.created_at,
                references=references.get(bundle.sha256, []),
                jobs=int(jobs.get(bundle.sha256, 0)),
                last_used_at=used,
            )
            for bundle, used in rows
        ],
        total=total,
    )


def files(sha256: str) -> BundleFiles:
    """The regular files of a bundle, by path (extracted on this node on first use, and checked)."""
    root = _root(sha256)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if path.is_file() and not path.is_symlink():
                found.append(BundleFile(path=path.relative_to(root).as_posix(), size=path.stat().st_size))
    found.sort(key=lambda f: f.path)  # a folder's files and its subfolders' interleave by path
    return BundleFiles(sha256=sha256, files=found)


def file_content(sha256: str, path: str) -> BundleFileContent:
    """One file of a bundle: its text (up to 256 KiB) when it is text, or only its size and sha256."""
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or any(p in ("..", ".") for p in parts) or "\x00" in path:
        raise ValidationFailed("not a path inside a bundle", details=[{"field": "path", "message": path[:200]}])
    root = _root(sha256)
    target = root.joinpath(*parts)
    if target.is_symlink() or not target.is_file():
        raise NotFound(f"bundle {sha256} has no file {path!r}", details={"field": "path"})
    digest = hashlib.sha256()
    head = b""
    with target.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            if len(head) <= MAX_TEXT_BYTES:
                head += chunk[: MAX_TEXT_BYTES + 1 - len(head)]
            digest.update(chunk)
    size = target.stat().st_size
    text = text_of(head[:MAX_TEXT_BYTES], truncated=size > MAX_TEXT_BYTES)
    return BundleFileContent(
        path=path,
        size=size,
        sha256=digest.hexdigest(),
        binary=text is None,
        text=text,
        truncated=text is not None and size > MAX_TEXT_BYTES,
    )


def text_of(data: bytes, *, truncated: bool) -> str | None:
    """`data` as text, or None when it is not UTF-8 or holds NUL bytes. A cut may fall inside a character: up to
    three bytes at the end of a truncated head may be dropped, nothing else."""
    for end in range(len(data), max(len(data) - 4, -1), -1) if truncated else (len(data),):
        try:
            text = data[:end].decode()
        except UnicodeDecodeError:
            continue
        return None if "\x00" in text else text
    return None


def download(sha256: str) -> Path | bytes:
    """A stored bundle to send."""
    _known(sha256)
    return storage.bundle_content(sha256, f"bundle {sha256}")


def _known(sha256: str) -> None:
    with db.read() as s:
        if s.get(Bundle, sha256) is None:
            raise NotFound(f"no bundle {sha256}", details={"field": "sha256"})


def _root(sha256: str) -> Path:
    _known(sha256)
    try:
        return storage.bundle_directory(sha256)
    except BundleMissing:
        raise NotFound(f"bundle {sha256} is missing from the store", details={"sha256": sha256}) from None
