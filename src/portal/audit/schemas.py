"""Query parameters and response bodies of the audit API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from portal.values import MAX_ID

ExportFormat = Literal["csv", "jsonl"]


class AuditFilter(BaseModel):
    """The filters of the audit list and its export. An empty value is no filter; all given filters must match."""

    actor: str | None = Field(default=None, max_length=64, description="the actor's username, exact")
    action: str | None = Field(default=None, max_length=64, description="exact, e.g. job.cancel")
    action_prefix: str | None = Field(default=None, max_length=64, description="e.g. `job.` for every job.* action")
    target_type: str | None = Field(default=None, max_length=32, description="e.g. job, user, item_version")
    target_id: str | None = Field(default=None, max_length=200)
    request_id: str | None = Field(default=None, max_length=64)
    since: datetime | None = Field(default=None, description="at or after (ISO 8601; without a zone: UTC)")
    until: datetime | None = Field(default=None, description="strictly before (ISO 8601; without a zone: UTC)")
    before_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="continue after this entry: `next_before_id`"
    )

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        since = info.data.get("since")
        if info.field_name == "until" and since is not None and value <= since:
            raise ValueError("must be later than since")
        return value


class AuditEntryOut(BaseModel):
    """One entry. A change carries `details: {"before": {...}, "after": {...}}` (plus context keys)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor_id: int | None
    actor_name: str
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    ip: str | None
    request_id: str | None


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_before_id: int | None = Field(
        description=(
            "pass as `before_id` for the next page; null at the end. A page can hold fewer than `limit` entries "
            "(even none) and still have one, when sparse matches of several broad filters cut the page's scan short"
        )
    )


class AuditFacets(BaseModel):
    """The values the filters can take, for the UI's dropdowns (sorted; at most `limit` of each)."""

    actions: list[str]
    actors: list[str]
    target_types: list[str]
    truncated: bool = Field(description="a list stopped at the limit (many distinct actor names)")
