"""Catalog API: browse items, describe versions, import from local folders."""

from __future__ import annotations

from fastapi import APIRouter, Query

from portal.auth.deps import Publisher, Viewer
from portal.catalog import service
from portal.catalog.schemas import Descriptor, ImportReport, ItemPage, LocalImportRequest, VersionOut

router = APIRouter(prefix="/api/catalog", tags=["catalog"])


@router.get("", operation_id="catalog-list", response_model=ItemPage)
def list_items(
    _: Viewer,
    q: str | None = Query(default=None, max_length=200),
    category: str | None = Query(default=None, max_length=100),
    tag: str | None = Query(default=None, max_length=100),
) -> ItemPage:
    return service.list_items(q, category, tag)


@router.get("/{item_id}/versions", operation_id="catalog-list-versions", response_model=list[VersionOut])
def list_versions(item_id: str, _: Viewer) -> list[VersionOut]:
    return service.list_versions(item_id)


@router.get(
    "/{item_id}/{version}/descriptor",
    operation_id="catalog-get-descriptor",
    response_model=Descriptor,
    response_model_by_alias=True,
)
def get_descriptor(item_id: str, version: str, _: Viewer) -> Descriptor:
    """Manifest, schema, uiSchema and README of a version; `latest` is the highest active release."""
    return service.get_descriptor(item_id, version)


@router.post("/local/import", operation_id="catalog-import-local", response_model=ImportReport)
def import_local(body: LocalImportRequest, principal: Publisher) -> ImportReport:
    """Register the item versions of a folder under an allowed root; all of them or, on any problem, none."""
    return service.import_local(principal, body.path)
