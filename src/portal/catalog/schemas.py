"""Request and response bodies of the catalog API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    version: str
    status: str
    bundle_sha256: str
    source: dict[str, Any]
    imported_by: str
    imported_at: datetime


class ItemOut(BaseModel):
    id: str
    name: str
    description: str
    category: str | None
    tags: list[str]
    owner: str | None
    latest_version: str | None
    versions: list[str] = Field(description="active versions, highest first (semver order)")
    updated_at: datetime


class ItemPage(BaseModel):
    items: list[ItemOut]
    total: int


class Descriptor(BaseModel):
    item_id: str
    version: str
    manifest: dict[str, Any]
    schema_: dict[str, Any] = Field(alias="schema", serialization_alias="schema")
    ui_schema: dict[str, Any]
    readme: str
    bundle_sha256: str
    status: str

    model_config = ConfigDict(populate_by_name=True)


class LocalImportRequest(BaseModel):
    path: str = Field(min_length=1, max_length=4096, description="a folder under one of PORTAL_CATALOG_LOCAL_ROOTS")


class ImportedVersion(BaseModel):
    item_id: str
    version: str
    outcome: str = Field(description="imported or unchanged")
    bundle_sha256: str


class ImportReport(BaseModel):
    imported: list[ImportedVersion]
