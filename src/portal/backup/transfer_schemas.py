"""The catalog export's `catalog.json` and the report of importing one."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ExportedVersion(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str = Field(max_length=64)
    bundle_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    tree_digest: str | None = Field(
        default=None, max_length=64, description="the files' digest: equal trees are one version, however packed"
    )
    state: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=2000)


class ExportedItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(max_length=64)
    settings: dict[str, Any] = Field(
        default_factory=dict, description="the item's metadata and policies, as the admin API's PATCH takes them"
    )
    versions: list[ExportedVersion] = Field(max_length=10_000)
    channels: dict[str, str] = Field(default_factory=dict, description="custom channels: name -> version")


class ExportHeader(BaseModel):
    """What an import reads from `portal-catalog-export.json`."""

    model_config = ConfigDict(extra="ignore")

    created_at: str | None = Field(default=None, max_length=64)
    host: str | None = Field(default=None, max_length=255)


class ExportedCatalog(BaseModel):
    model_config = ConfigDict(extra="ignore")

    items: list[ExportedItem] = Field(max_length=10_000)


Outcome = Literal["imported", "unchanged", "conflict", "failed", "skipped", "new"]


class TransferredVersion(BaseModel):
    item_id: str
    version: str
    outcome: Outcome = Field(
        description="imported; unchanged (here with the same bundle); conflict (here with another bundle: kept); "
        "failed (with its problems); skipped (rejected in the exporting portal); new (a dry run would import it)"
    )
    state: str | None = Field(default=None, description="its lifecycle state here afterwards")
    problems: Any | None = None


class CatalogImportReport(BaseModel):
    dry_run: bool
    exported_at: str | None
    exported_from: str | None
    versions: list[TransferredVersion]
    imported: int
    unchanged: int
    conflicts: int
    failed: int
    skipped: int
    channels_set: list[str] = Field(description="`item:channel -> version` set here (only channels this portal lacked)")
    items_configured: list[str] = Field(description="new items given the exported metadata and policies")
    notes: list[str] = Field(description="what was kept as it is here, and why")


class CatalogExportSummary(BaseModel):
    items: int
    versions: int
    bundles: int
    missing_bundles: list[str]
