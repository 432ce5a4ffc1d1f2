"""Request and response bodies of the catalog API."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    version: str
    status: str
    bundle_sha256: str
    source: dict[str, Any]
    imported_by: str
    imported_at: datetime
    deprecated: str | None = Field(default=None, description="why the version is deprecated, when it is")
    sunset_at: datetime | None = Field(default=None, description="when a deprecated version stops being offered")
    channels: list[str] = Field(default_factory=list, description="the channels that point to it (stable first)")


NETWORK_NEED = (
    "network access a version declares: null (none), {} (any outbound TCP port except the portal's own "
    "services) or {tcp_ports: [...]}"
)


DRAFT = "import as drafts: not runnable until moved along their lifecycle (staged releases)"


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
    network: dict[str, Any] | None = Field(default=None, description=f"of the latest version: {NETWORK_NEED}")
    network_allowed: bool = Field(default=True, description="whether an admin allowed the latest version's need")
    channels: dict[str, str] = Field(
        default_factory=dict,
        description="the item's channels (stable, canary, ...) and their versions; offer stable first",
    )
    featured: bool = False
    notice: str | None = Field(default=None, description="what its maintainers want requesters to know")


class NetworkAccess(BaseModel):
    item_id: str
    needs: dict[str, Any] | None = Field(description=f"what the item's versions declare together; {NETWORK_NEED}")
    allowed: dict[str, Any] | None = Field(description="what an admin allowed (same shape), or null")
    allowed_by: str | None = None
    allowed_at: datetime | None = None


class NetworkAccessUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed: bool = Field(description="true: allow what the item's versions declare now; false: withdraw it")


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
    network: dict[str, Any] | None = Field(default=None, description=NETWORK_NEED)
    network_allowed: bool = Field(default=True, description="whether an admin allowed this version's need")

    model_config = ConfigDict(populate_by_name=True)


class LocalImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=4096, description="a folder under one of PORTAL_CATALOG_LOCAL_ROOTS")
    replace: bool = Field(default=False, description="replace versions registered with different content (audited)")
    development: bool = Field(
        default=False, description="run these versions straight from the folder (edits apply on the next run)"
    )
    draft: bool = Field(default=False, description=DRAFT)


class LocalRoots(BaseModel):
    roots: list[str] = Field(
        description="absolute folders a folder import may read; a path is absolute under one or relative to one"
    )


class LocalValidateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=4096, description="a folder under one of PORTAL_CATALOG_LOCAL_ROOTS")


@pydantic_dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class GitImportRequest:
    """An import from Git: the API's body, and the inputs of the `catalog_import` job that carries it out."""

    repo_url: str = Field(min_length=1, max_length=2000, examples=["https://git.example.com/ops/catalog.git"])
    item_id: str = Field(min_length=1, max_length=64)
    version: str | None = Field(default=None, max_length=64, description="imports the tag item_id@version")
    ref: str | None = Field(default=None, max_length=200, description="or a branch, tag or commit")
    replace: bool = False
    draft: bool = Field(default=False, description=DRAFT)

    @model_validator(mode="before")
    @classmethod
    def _original_shape(cls, data: Any) -> Any:
        """The original portal's body names the item `item_name`."""
        if isinstance(data, dict) and "item_name" in data:
            if "item_id" in data:
                raise ValueError("give item_id or item_name (the original portal's name for it), not both")
            data = {("item_id" if key == "item_name" else key): value for key, value in data.items()}
        return data

    @property
    def refspec(self) -> str:
        return f"refs/tags/{self.item_id}@{self.version}" if self.version else str(self.ref)

    def as_inputs(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class ProblemOut(BaseModel):
    file: str
    line: int | None
    message: str


class VersionCheck(BaseModel):
    item_id: str | None
    version: str | None
    problems: list[ProblemOut]


class ValidationReport(BaseModel):
    valid: bool
    versions: list[VersionCheck]
    problems: list[ProblemOut] = Field(description="problems of the archive itself")


class WebhookOut(BaseModel):
    provider: str
    repository: str | None
    accepted: list[int] = Field(description="ids of the import jobs queued")
    ignored: list[str]


class ImportedVersion(BaseModel):
    item_id: str
    version: str
    outcome: str = Field(description="imported, unchanged or replaced")
    bundle_sha256: str


class ImportReport(BaseModel):
    imported: list[ImportedVersion]
