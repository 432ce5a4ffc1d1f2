"""`/api/admin/analytics/...` (operators and admins): how the catalog is used, what fails, what failed to import."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from portal.admin import analytics
from portal.admin.analytics_schemas import (
    Adoption,
    ErrorsAnalytics,
    ImportFailureOut,
    ImportFailurePage,
    ItemsAnalytics,
    UsageRanking,
)
from portal.auth.deps import Operator, Publisher
from portal.catalog import import_failures
from portal.responses import json_response

router = APIRouter(prefix="/api/admin/analytics", tags=["admin"])

Since = Annotated[datetime | None, Query(description="start of the period (default: 30 days before `until`)")]
Until = Annotated[datetime | None, Query(description="end of the period (default: now); at most 366 days long")]
ItemId = Annotated[str | None, Query(max_length=64, description="one item only")]


@router.get("/items", operation_id="analytics-items", response_model=ItemsAnalytics)
def items(
    _: Operator,
    since: Since = None,
    until: Until = None,
    item_id: ItemId = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="the busiest items")] = 100,
) -> Response:
    """Per item and per version over whole UTC days of the period: `runs`, `succeeded`, `failed`, `cancelled`,
    `success_rate`, `p50_ms`, `p95_ms` (from a log histogram, within 10 %), `avg_ms`, `cpu_ms`, `max_rss_kb`.
    Role: operator."""
    return json_response(analytics.items(since, until, item_id, limit))


@router.get("/errors", operation_id="analytics-errors", response_model=ErrorsAnalytics)
def errors(
    _: Operator,
    since: Since = None,
    until: Until = None,
    item_id: ItemId = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """The failed runs of the period grouped by error type and message (numbers masked), with the first and the
    latest occurrence, the items and sample jobs. Role: operator."""
    return json_response(analytics.errors(since, until, item_id, limit))


@router.get("/adoption", operation_id="analytics-adoption", response_model=Adoption)
def adoption(
    _: Operator, item_id: Annotated[str, Query(max_length=64)], since: Since = None, until: Until = None
) -> Response:
    """An item's runs per version per day. Role: operator."""
    return json_response(analytics.adoption(item_id, since, until))


@router.get("/usage", operation_id="analytics-usage", response_model=UsageRanking)
def usage(
    _: Operator,
    since: Since = None,
    until: Until = None,
    unused_days: Annotated[int, Query(ge=1, le=3650, description="'unused': no run in this many days")] = 30,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """The most and least used runnable items of the period, and those nobody ran lately. Role: operator."""
    return json_response(analytics.ranking(since, until, unused_days, limit))


@router.get("/imports", operation_id="analytics-import-failures", response_model=ImportFailurePage)
def failed_imports(
    _: Publisher,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ImportFailurePage:
    """Failed import attempts (folders, uploads, Git, catalog exports) with their problems, newest first.
    Role: publisher."""
    rows, total = import_failures.page((page - 1) * page_size, page_size)
    return ImportFailurePage(
        items=[ImportFailureOut.model_validate(r, from_attributes=True) for r in rows], total=total
    )
