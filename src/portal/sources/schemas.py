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


class SourceStatus(BaseModel):
    state: Literal["available", "disabled"] = Field(description="disabled: its `enabled` is false")


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
