"""What the bundle browser (`/api/admin/storage/...`) answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class BundleReference(BaseModel):
    item_id: str
    version: str
    state: str


class BundleOut(BaseModel):
    sha256: str
    size: int = Field(description="bytes of the stored tar.gz")
    created_at: datetime
    references: list[BundleReference] = Field(description="the item versions whose bundle it is")
    jobs: int = Field(description="jobs that ran it (their history keeps it)")
    last_used_at: datetime | None = Field(description="when the newest of those jobs was created")


class BundlePage(BaseModel):
    items: list[BundleOut]
    total: int


class BundleFile(BaseModel):
    path: str = Field(description="relative to the bundle's root, with / between folders")
    size: int


class BundleFiles(BaseModel):
    sha256: str
    files: list[BundleFile]


class BundleFileContent(BaseModel):
    path: str
    size: int
    sha256: str = Field(description="of the file's bytes")
    binary: bool = Field(description="not UTF-8 text (or holds NUL bytes): `text` is null")
    text: str | None = Field(description="the file's text, up to 256 KiB")
    truncated: bool = Field(description="whether `text` stops before the end of the file")


class CleanupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(description="true: say what would be removed and remove nothing")
    bundles: list[Annotated[str, StringConstraints(pattern="^[0-9a-f]{64}$")]] | None = Field(
        default=None,
        max_length=10_000,
        description="remove only these (the list a preview showed); those no longer orphaned are kept",
    )


class RemovedBundle(BaseModel):
    sha256: str
    size: int
    created_at: datetime


class CacheEviction(BaseModel):
    entries: int = Field(description="extracted bundles dropped from this node's cache")
    bytes: int


class CleanupReport(BaseModel):
    dry_run: bool
    bundles: list[RemovedBundle] = Field(
        description="orphaned bundles (no version refers to them, no job ran them): removed, or that would be"
    )
    bytes: int = Field(description="the stored bytes of those bundles")
    versions: list[str] = Field(description="`item@version` archived past their retention: purged with them")
    cache: CacheEviction = Field(
        description="this node's extracted copies of bundles that are gone or that nothing can run now"
    )


class VersionBytes(BaseModel):
    version: str
    state: str
    size: int = Field(description="bytes of its bundle")


class ItemStorage(BaseModel):
    item_id: str
    bytes: int = Field(description="its versions' bundles, each bundle once")
    versions: list[VersionBytes]


class GrowthPoint(BaseModel):
    day: str = Field(description="YYYY-MM-DD (UTC)")
    bytes: int = Field(description="bytes of the bundles stored that day that are still stored")
    total: int = Field(description="bytes stored by the end of that day, of the bundles still stored")


class StorageSummary(BaseModel):
    store: str = Field(description="`files` or `database`")
    bundles: int
    bytes: int = Field(description="every stored bundle, once")
    referenced_bytes: int = Field(description="what the versions' bundles would take with one copy per version")
    saved_bytes: int = Field(description="bytes deduplication saves: referenced_bytes less those bundles, each once")
    orphaned_bundles: int = Field(description="bundles no version refers to and no job ran (the cleanup's)")
    orphaned_bytes: int
    cache_entries: int = Field(description="bundles extracted on this node")
    cache_bytes: int
    quota_bytes: int = Field(description="PORTAL_STORAGE_QUOTA_BYTES (0: no limit)")
    items: list[ItemStorage] = Field(description="the items whose bundles take the most, largest first")
    items_total: int
    growth: list[GrowthPoint] = Field(description="the last 90 days, a point per day that stored something")
