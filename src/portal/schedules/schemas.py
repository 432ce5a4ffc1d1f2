"""Bodies of the schedules API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$"
MAX_NEXT_RUNS = 50

_CRON = "5 fields (minute hour day month weekday), 6 with seconds first, or @daily, @hourly, ..."
_TZ = "an IANA time zone name, like Europe/Berlin or UTC"
_VERSION = "a version of the item, or 'latest' (the newest active release when each run starts)"


class ScheduleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="unique; letters, digits, space, '.', '_', '-'")
    description: str = Field(default="", max_length=1000)
    item_id: str = Field(min_length=1, max_length=64)
    version: str = Field(default="latest", min_length=1, max_length=64, description=_VERSION)
    inputs: dict[str, Any] = Field(default_factory=dict, description="checked against the version's schema")
    cron: str = Field(max_length=200, description=_CRON, examples=["0 9 * * mon-fri"])
    timezone: str = Field(default="UTC", max_length=64, description=_TZ, examples=["Europe/Berlin"])
    enabled: bool = True


class ScheduleUpdate(BaseModel):
    """Only the fields given change. A sensitive input given as `***` keeps its stored value."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    description: str | None = Field(default=None, max_length=1000)
    item_id: str | None = Field(default=None, min_length=1, max_length=64)
    version: str | None = Field(default=None, min_length=1, max_length=64, description=_VERSION)
    inputs: dict[str, Any] | None = None
    cron: str | None = Field(default=None, max_length=200, description=_CRON)
    timezone: str | None = Field(default=None, max_length=64, description=_TZ)
    enabled: bool | None = None


class SchedulePreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cron: str = Field(max_length=200, description=_CRON)
    timezone: str = Field(default="UTC", max_length=64, description=_TZ)
    count: int = Field(default=5, ge=1, le=MAX_NEXT_RUNS)


class NextRun(BaseModel):
    at: datetime = Field(description="the instant, in UTC")
    local: str = Field(description="the same instant in the schedule's time zone (ISO 8601 with its offset)")


class NextRuns(BaseModel):
    cron: str
    timezone: str
    runs: list[NextRun]


class ScheduleRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    due_at: datetime
    at: datetime
    job_id: int | None
    error: str | None


class ScheduleOut(BaseModel):
    id: int
    name: str
    description: str
    item_id: str
    version: str
    inputs: dict[str, Any] = Field(description="sensitive inputs show as '***' (they are stored encrypted)")
    masked_inputs: list[str]
    cron: str
    timezone: str
    enabled: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_job_id: int | None
    last_error: str | None
    last_error_at: datetime | None
    owner: str = Field(description="the user its jobs run as: the admin who last created, changed or enabled it")
    created_by: str
    created_at: datetime
    updated_at: datetime


class ScheduleDetail(ScheduleOut):
    next_runs: list[NextRun]
    recent_runs: list[ScheduleRunOut]


class SchedulePage(BaseModel):
    items: list[ScheduleOut]
    total: int
    page: int
    page_size: int
