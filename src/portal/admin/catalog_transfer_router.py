"""`/api/admin/catalog/export` and `/api/admin/catalog/import` (admins): the catalog as one archive, taken to another
portal and imported there, idempotently."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from portal.auth.deps import Admin
from portal.backup import catalog_export, catalog_import
from portal.backup.transfer_schemas import CatalogImportReport
from portal.settings import get_settings

router = APIRouter(prefix="/api/admin/catalog", tags=["admin"])
IMPORT_PATH = "/api/admin/catalog/import"


def _work_file(suffix: str) -> Path:
    tmp = get_settings().data_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp, prefix="catalog-transfer-", suffix=suffix)
    os.close(fd)
    return Path(name)


@router.get("/export", operation_id="catalog-export", response_class=FileResponse)
def export(
    principal: Admin,
    items: Annotated[
        str | None, Query(max_length=10_000, description="item ids, comma-separated; all by default")
    ] = None,
) -> FileResponse:
    """The catalog export (a tar): items with their metadata and policies, their versions (bundle and lifecycle
    state; not development versions, nor rejected ones), custom channels and the bundles, with a manifest of
    sha256 sums. Role: admin."""
    path = _work_file(".tar")
    try:
        wanted = [i.strip() for i in items.split(",") if i.strip()] if items else None
        catalog_export.export_catalog(principal, path, wanted)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    name = f"portal-catalog-{datetime.now(UTC):%Y%m%d-%H%M%S}.tar"
    return FileResponse(path, media_type="application/x-tar", filename=name, background=BackgroundTask(path.unlink))


@router.post("/import", operation_id="catalog-import", response_model=CatalogImportReport)
def import_export(
    principal: Admin,
    file: Annotated[UploadFile, File(description="a catalog export of this or another portal")],
    dry_run: Annotated[bool, Form(description="say what would happen, change nothing")] = False,
) -> CatalogImportReport:
    """Import a catalog export, idempotently: new versions through this portal's own import (its review policy,
    quotas and tests apply); a version here with the same bundle is unchanged, with another a conflict that
    keeps this portal's; channels this portal lacks and the metadata of the items the import creates come along.
    Size-limited by PORTAL_CATALOG_IMPORT_MAX_BYTES. Role: admin."""
    path = _work_file(".tar")
    try:
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, 1 << 20)
        return catalog_import.import_catalog(principal, path, dry_run=dry_run)
    finally:
        path.unlink(missing_ok=True)
