"""`/api/admin/storage/...` (admins): the bundle browser (every bundle with what refers to it, its files read-only,
and its download) and the cleanup with its preview."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, Response

from portal.admin import storage, storage_cleanup, storage_summary
from portal.admin.storage_schemas import (
    BundleFileContent,
    BundleFiles,
    BundlePage,
    CleanupReport,
    CleanupRequest,
    StorageSummary,
)
from portal.auth.deps import Admin
from portal.responses import download

router = APIRouter(prefix="/api/admin/storage", tags=["admin"])

Sha256 = Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="the bundle's sha256")]


@router.get("/summary", operation_id="storage-summary", response_model=StorageSummary)
def summary(_: Admin) -> StorageSummary:
    """What the catalog stores: bundles and bytes by store, what deduplication saves, the orphans a cleanup would
    remove, this node's extraction cache, the items that take the most (with each version's bundle) and growth
    by day over 90 days. Role: admin."""
    return storage_summary.summary()


@router.get("/bundles", operation_id="storage-bundles", response_model=BundlePage)
def list_bundles(
    _: Admin,
    q: Annotated[str | None, Query(max_length=200, description="a sha256 prefix, or part of an item's id")] = None,
    sort: Annotated[str, Query(max_length=20, description="created_at, size or sha256")] = "created_at",
    order: Literal["asc", "desc"] = "desc",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> BundlePage:
    """Every bundle with its size, the item versions that refer to it, the jobs that ran it and when it was last
    used. Role: admin."""
    return storage.list_bundles(q=q, sort=sort, descending=order == "desc", page=page, page_size=page_size)


@router.get("/bundles/{sha256}/files", operation_id="storage-bundle-files", response_model=BundleFiles)
def bundle_files(sha256: Sha256, _: Admin) -> BundleFiles:
    """A bundle's files, by path, with their sizes. Role: admin."""
    return storage.files(sha256)


@router.get("/bundles/{sha256}/files/{path:path}", operation_id="storage-bundle-file", response_model=BundleFileContent)
def bundle_file(sha256: Sha256, path: str, _: Admin) -> BundleFileContent:
    """One file of a bundle: its text (up to 256 KiB) when it is UTF-8 text, and always its size and sha256.
    Role: admin."""
    return storage.file_content(sha256, path)


@router.get("/bundles/{sha256}/download", operation_id="storage-bundle-download", response_class=FileResponse)
def download_bundle(sha256: Sha256, _: Admin) -> Response:
    """The bundle's tar.gz as stored. Role: admin."""
    return download(storage.download(sha256), f"{sha256}.tar.gz")


@router.post("/cleanup", operation_id="storage-cleanup", response_model=CleanupReport)
def cleanup(body: CleanupRequest, principal: Admin) -> CleanupReport:
    """What a cleanup removes (`dry_run: true`), or remove it: the orphaned bundles (no version refers to them and
    no job ran them), the versions archived past their retention, and this node's extracted copies of bundles
    that are gone or that nothing can run now. `bundles` holds it to the list a preview showed. Audited
    (`storage.cleanup`). Role: admin."""
    return storage_cleanup.cleanup(principal, dry_run=body.dry_run, only=body.bundles)
