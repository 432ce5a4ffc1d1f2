"""Bodies of the sources API: the validation answer, the current document with its state, revisions and diffs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from portal.sources.document import SourcesDocument

LayerName = Literal["parse", "schema", "semantics", "security", "probe"]


class Problem(BaseModel):
    field: str = Field(description="the path of the field at fault, like sources[1].url ('(document)' for all)")
    line: int | None = Field(default=None, description="its line, when the document was sent as YAML")
    message: str


class LayerResult(BaseModel):
    layer: LayerName
    valid: bool | None = Field(description="null when the layer did not run")
    errors: list[Problem] = Field(default_factory=list)
    note: str | None = Field(default=None, description="why the layer did not run")


class ValidationAnswer(BaseModel):
    valid: bool
    errors: list[Problem]
    warnings: list[Problem]
    layers: list[LayerResult]


SourceState = Literal["available", "error", "disabled", "refreshing"]
RefreshOutcome = Literal["succeeded", "partial", "failed"]


class ItemProblem(BaseModel):
    """A problem of one item version a refresh found (the others imported all the same)."""

    item_id: str | None = Field(default=None, description="null when the folder did not say which item it is")
    version: str | None = None
    file: str | None = Field(default=None, description="relative to the source's folder or repository")
    line: int | None = None
    message: str


class SourceStatus(BaseModel):
    """How a source stands: its state now and how its last refresh went (kept across restarts)."""

    state: SourceState = Field(
        description="disabled: its `enabled` is false; refreshing: a refresh job is queued or running; error: the "
        "last refresh failed as a whole; available otherwise"
    )
    last_refresh_time: datetime | None = Field(default=None, description="when the last refresh ended")
    last_refresh_status: RefreshOutcome | None = Field(
        default=None, description="partial: some item versions failed, the others imported; null: never refreshed"
    )
    summary: str = Field(default="", description='like "3 new, 12 unchanged, 1 failed"')
    versions_imported: int = 0
    versions_unchanged: int = 0
    versions_failed: int = 0
    versions_missing: list[str] = Field(
        default_factory=list, description="item@version imported from it before that it no longer holds (kept)"
    )
    error: str | None = Field(default=None, description="why the last refresh failed as a whole")
    duration_ms: int | None = None
    problems: list[ItemProblem] = Field(default_factory=list)
    job_id: int | None = Field(default=None, description="the refresh job running now, else the last one")


class SourceView(BaseModel):
    """A source as saved (credentials redacted), with its state."""

    model_config = {"extra": "allow"}

    id: str
    type: Literal["git", "folder"]
    status: SourceStatus


class SourcesView(BaseModel):
    """The current document (its sources carry a read-only `status`) and the revision it is."""

    apiVersion: str
    kind: str
    sources: list[SourceView]
    revision: int | None = Field(description="null before the first save")
    etag: str = Field(description="the content hash; send it back as If-Match to save")
    author: str | None
    created_at: datetime | None
    message: str


class SaveResult(BaseModel):
    saved: bool = Field(description="false when the document equals the current one (no revision is made)")
    warnings: list[Problem]
    current: SourcesView
    refresh_jobs: list[int] = Field(
        default_factory=list, description="with refresh=true: the refresh job of each new or changed enabled source"
    )


class RevisionOut(BaseModel):
    revision: int
    content_hash: str
    author: str
    message: str
    created_at: datetime
    sources: int = Field(description="how many sources the revision holds")


class RevisionPage(BaseModel):
    items: list[RevisionOut]
    total: int
    page: int
    page_size: int


class RevisionDetail(RevisionOut):
    document: SourcesDocument = Field(description="credentials redacted")


class FieldChange(BaseModel):
    field: str = Field(description="like sources[platform].url; a source is named by its id")
    change: Literal["added", "removed", "changed"]
    before: Any = None
    after: Any = None


class RevisionDiff(BaseModel):
    revision: int
    against: int | None = Field(description="the older side; null: the empty document")
    changes: list[FieldChange]
    unified: str = Field(description="a unified diff of the two documents as YAML")
