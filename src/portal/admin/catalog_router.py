"""`/api/admin/catalog/items/...`: catalog administration. Publishers manage the items they maintain, admins
every item (the server checks each call; `may_manage` on each row tells the UI what to offer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from portal.admin import catalog as catalog_reads
from portal.admin import catalog_diff
from portal.auth.deps import Publisher
from portal.catalog import administration
from portal.catalog import bulk as catalog_bulk
from portal.catalog.admin_schemas import (
    AdminItemDetail,
    AdminItemPage,
    AdminVersionOut,
    CatalogBulkRequest,
    CatalogBulkResponse,
    ChannelRequest,
    DependencyGraph,
    DryRunRequest,
    ItemUpdate,
    PendingReviews,
    ReviewRequest,
    TestResults,
    TransitionRequest,
    VersionDiff,
)
from portal.jobs import item_tests
from portal.jobs.schemas import JobOut
from portal.ratelimit import limiter
from portal.settings import get_settings

router = APIRouter(prefix="/api/admin/catalog", tags=["admin"])

_403: dict[int | str, dict[str, Any]] = {403: {"description": "the caller does not manage this item"}}
_409: dict[int | str, dict[str, Any]] = {
    409: {"description": "the lifecycle has no such edge (`details.from`, `details.to`), or the version cannot"}
}


@router.get("/items", operation_id="catalog-admin-list", response_model=AdminItemPage)
def list_items(
    principal: Publisher,
    q: Annotated[str | None, Query(max_length=200)] = None,
    state: Annotated[str | None, Query(max_length=20, description="items with a version in this state")] = None,
    owner: Annotated[
        str | None, Query(max_length=200, description="the item's owner or one of its maintainers")
    ] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    sort: Annotated[str, Query(max_length=20, description="id, name or updated_at")] = "name",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AdminItemPage:
    """Every item, whatever the state of its versions, with channels, version states and the runs of the last 30 days.
    Role: publisher."""
    return catalog_reads.list_items(
        principal,
        q=q,
        state=state,
        owner=owner,
        tag=tag,
        category=category,
        sort=sort,
        descending=order == "desc",
        page=page,
        page_size=page_size,
    )


@router.get("/reviews", operation_id="catalog-admin-reviews", response_model=PendingReviews)
def pending_reviews(principal: Publisher) -> PendingReviews:
    """The versions waiting for a review the caller may give, and the caller's own versions in review. Role:
    publisher."""
    return administration.pending_reviews(principal)


@router.get("/dependencies", operation_id="catalog-admin-dependencies", response_model=DependencyGraph)
def dependency_graph(_: Publisher) -> DependencyGraph:
    """Every dependency between runnable versions: the items, and an edge per item@version -> item (range). Role:
    publisher."""
    return catalog_reads.dependency_graph()


@router.get("/items/{item_id}", operation_id="catalog-admin-get", response_model=AdminItemDetail)
def get_item(item_id: str, principal: Publisher) -> AdminItemDetail:
    """An item with every version (state, reason, channels), its history and metadata. Role: publisher."""
    return catalog_reads.get_item(principal, item_id)


@router.get(
    "/items/{item_id}/diff",
    operation_id="catalog-admin-diff",
    response_model=VersionDiff,
    response_model_by_alias=True,
)
def diff_versions(
    item_id: str,
    principal: Publisher,
    newer: Annotated[str, Query(alias="to", min_length=1, max_length=64, description="a version or channel")],
    older: Annotated[
        str | None,
        Query(alias="from", min_length=1, max_length=64, description="a version or channel (absent: nothing)"),
    ] = None,
) -> VersionDiff:
    """What changed from one version to another: the input schema (each change breaking or compatible, and the item's
    schedules and recent jobs the newer version would refuse), the manifest and the files. Role: publisher
    maintaining the item, or admin."""
    return catalog_diff.compare(principal, item_id, older, newer)


@router.patch("/items/{item_id}", operation_id="catalog-admin-update", response_model=AdminItemDetail, responses=_403)
def update_item(item_id: str, body: ItemUpdate, principal: Publisher) -> AdminItemDetail:
    """Metadata without a new bundle (a null clears an override); the review policy and maintainers are for admins.
    Audited with before and after. Role: publisher maintaining the item, or admin."""
    administration.update_item(principal, item_id, body)
    return catalog_reads.get_item(principal, item_id)


@router.post(
    "/items/{item_id}/versions/{version}/transition",
    operation_id="catalog-admin-transition",
    response_model=AdminVersionOut,
    responses={**_403, **_409},
)
def transition(item_id: str, version: str, body: TransitionRequest, principal: Publisher) -> AdminVersionOut:
    """Move a version along its lifecycle (draft, in_review, active, deprecated, archived, rejected): an edge the table
    does not have is a 409 naming both states; deprecating, archiving and rejecting need a reason. Role: publisher
    maintaining the item, or admin."""
    return administration.transition(principal, item_id, version, body.to, body.reason, body.sunset_at, body.confirm)


@router.post(
    "/items/{item_id}/versions/{version}/review",
    operation_id="catalog-admin-review",
    response_model=AdminVersionOut,
    responses={403: {"description": "the caller imported this version, or does not manage the item"}, **_409},
)
def review(item_id: str, version: str, body: ReviewRequest, principal: Publisher) -> AdminVersionOut:
    """Approve (-> active) or reject (-> rejected, a reason required) a version in review; never by its importer. Role:
    publisher maintaining the item, or admin."""
    return administration.review(principal, item_id, version, body.decision, body.reason)


@router.get(
    "/items/{item_id}/versions/{version}/tests", operation_id="catalog-admin-test-results", response_model=TestResults
)
def get_test_results(item_id: str, version: str, principal: Publisher) -> TestResults:
    """The latest run of a version's tests (`tests/*.json` in its bundle): each case, its job and verdict. Role:
    publisher."""
    return item_tests.results_for(principal, item_id, version)


@router.post(
    "/items/{item_id}/versions/{version}/tests",
    operation_id="catalog-admin-run-tests",
    response_model=TestResults,
    status_code=202,
    responses={**_403, **_409},
)
def run_tests(item_id: str, version: str, principal: Publisher) -> TestResults:
    """Run a version's tests now, each case a job of kind `catalog_test` in the sandbox (they also run when it is
    imported). Not runs of the item. Role: publisher maintaining the item, or admin."""
    return item_tests.start(principal, item_id, version)


@router.post(
    "/items/{item_id}/versions/{version}/dry-run",
    operation_id="catalog-admin-dry-run",
    response_model=JobOut,
    status_code=201,
    responses={**_403, **_409},
)
def dry_run(item_id: str, version: str, body: DryRunRequest, principal: Publisher) -> JobOut:
    """Run a version (a draft, say) once with sample inputs, in the sandbox: a job of kind `catalog_dry_run`, never
    counted as a run of the item. Role: publisher maintaining the item, or admin."""
    return item_tests.dry_run(principal, item_id, version, body.inputs)


@router.put(
    "/items/{item_id}/channels/{channel}",
    operation_id="catalog-admin-set-channel",
    response_model=AdminItemDetail,
    responses={**_403, **_409},
)
def set_channel(item_id: str, channel: str, body: ChannelRequest, principal: Publisher) -> AdminItemDetail:
    """Point a channel (`stable` or a custom one) at a runnable version; `latest` is computed. Role: publisher
    maintaining the item, or admin."""
    administration.set_channel(principal, item_id, channel, body.version, body.reason)
    return catalog_reads.get_item(principal, item_id)


@router.delete(
    "/items/{item_id}/channels/{channel}",
    operation_id="catalog-admin-remove-channel",
    response_model=AdminItemDetail,
    responses={**_403, **_409},
)
def remove_channel(
    item_id: str,
    channel: str,
    principal: Publisher,
    reason: Annotated[str | None, Query(max_length=2000)] = None,
) -> AdminItemDetail:
    """Remove a custom channel or unset `stable`. Role: publisher maintaining the item, or admin."""
    administration.remove_channel(principal, item_id, channel, reason)
    return catalog_reads.get_item(principal, item_id)


@router.post(
    "/bulk",
    operation_id="catalog-admin-bulk",
    response_model=CatalogBulkResponse,
    responses={429: {"description": "too many bulk calls from this user (`Retry-After` says when to try again)"}},
)
def bulk(body: CatalogBulkRequest, principal: Publisher) -> CatalogBulkResponse:
    """Deprecate, archive, restore, promote to a channel, tag or approve many versions (or items) at once: each row
    checked and done on its own, with its result and reason and an audit entry; `dry_run` previews. Counts against
    PORTAL_ADMIN_BULK_RATE_PER_MINUTE. Role: publisher maintaining the item, or admin."""
    limiter.check("catalog bulk", principal.id or 0, get_settings().admin_bulk_rate_per_minute)
    return catalog_bulk.run(principal, body)
