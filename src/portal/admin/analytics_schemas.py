"""What `/api/admin/analytics` answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class UsageFigures(BaseModel):
    runs: int = Field(description="finished runs (succeeded, failed or cancelled) in the period")
    succeeded: int
    failed: int
    cancelled: int
    success_rate: float | None = Field(description="succeeded / (succeeded + failed); null without either")
    p50_ms: int | None = Field(description="median run time (ms), within 10 % (a log histogram); null: none timed")
    p95_ms: int | None = Field(description="95th percentile of the run time (ms), within 10 %")
    avg_ms: int | None
    cpu_ms: int = Field(description="CPU time of the runs' processes, summed (ms)")
    max_rss_kb: int = Field(description="peak memory of the largest run (KiB; 0: not measured)")


class VersionUsage(UsageFigures):
    version: str


class ItemUsage(UsageFigures):
    item_id: str
    versions: list[VersionUsage] = Field(description="the same figures per version, newest first")


class ItemsAnalytics(BaseModel):
    since: datetime = Field(description="the window counted: whole UTC days from `since` up to `until`")
    until: datetime
    total_items: int = Field(description="items with runs in the period (`items` holds the `limit` busiest)")
    items: list[ItemUsage] = Field(description="items with runs in the period, most runs first")


class ErrorGroup(BaseModel):
    type: str
    message: str = Field(description="the message with its numbers masked (#): what the failures have in common")
    example: str = Field(description="the message of the latest failure of the group, as it was")
    count: int
    items: list[str]
    first_at: datetime
    last_at: datetime
    sample_jobs: list[int] = Field(description="the failed jobs of the group with the lowest and the highest id")


class ErrorsAnalytics(BaseModel):
    since: datetime
    until: datetime
    failures: int
    groups: list[ErrorGroup] = Field(description="most frequent first (at most `limit`)")


class AdoptionDay(BaseModel):
    day: datetime
    runs: dict[str, int] = Field(description="version -> finished runs that day")


class Adoption(BaseModel):
    item_id: str
    since: datetime
    until: datetime
    versions: list[str] = Field(description="the versions that ran, newest first")
    days: list[AdoptionDay]


class ItemRuns(BaseModel):
    item_id: str
    name: str
    runs: int
    last_run_at: datetime | None


class UsageRanking(BaseModel):
    since: datetime
    until: datetime
    most_used: list[ItemRuns]
    least_used: list[ItemRuns] = Field(description="items that ran least in the period (those that did not: `unused`)")
    unused: list[ItemRuns] = Field(description="runnable items nobody ran in the last `unused_days` days")
    unused_days: int


class ImportFailureOut(BaseModel):
    id: int
    at: datetime
    source: str
    target: str
    actor: str
    item_id: str | None
    version: str | None
    code: str
    message: str
    problems: Any | None


class ImportFailurePage(BaseModel):
    items: list[ImportFailureOut]
    total: int
