"""The catalog administration's reads: the admin table of items (with each item's version states, channels and
runs of the last 30 days) and an item's page. Here, above the catalog and the jobs, because it joins both."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.admin import paging
from portal.catalog import access, administration, channels, dependencies, lifecycle, quotas
from portal.catalog import queries as catalog_queries
from portal.catalog.admin_schemas import (
    AdminItemDetail,
    AdminItemOut,
    AdminItemPage,
    ChannelEventOut,
    DependencyGraph,
    VersionEventOut,
)
from portal.catalog.models import CatalogChannel, CatalogItem, CatalogVersion, CatalogVersionEvent
from portal.catalog.service import LATEST, version_sort_key
from portal.db import session as db
from portal.db.base import utcnow
from portal.identity.principal import Principal
from portal.jobs import kinds
from portal.jobs.counters import hour_of
from portal.jobs.models import Job, JobHourly
from portal.settings import get_settings

SORTS = {"id": CatalogItem.id, "name": CatalogItem.name, "updated_at": CatalogItem.updated_at}
STATS_DAYS = 30
MAX_PAGE_SIZE = 200


def list_items(
    actor: Principal,
    *,
    q: str | None = None,
    state: str | None = None,
    owner: str | None = None,
    tag: str | None = None,
    category: str | None = None,
    sort: str = "name",
    descending: bool = False,
    page: int = 1,
    page_size: int = 50,
) -> AdminItemPage:
    """Every item (whatever the state of its versions), filtered, sorted and paged."""
    order = paging.order_by(SORTS, sort, descending, CatalogItem.id)
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    conditions: list[Any] = []
    if q:
        conditions.append(catalog_queries.item_matches(q))
    if category:
        conditions.append(CatalogItem.category == category)
    if state:
        conditions.append(
            CatalogItem.id.in_(select(CatalogVersion.item_id).where(CatalogVersion.status == state).distinct())
        )
    with db.read() as s:
        if tag or owner:
            # These filters read JSON lists, which neither database indexes portably: they run here, on three
            # narrow columns of every item the other filters let through.
            found = s.execute(
                select(CatalogItem.id, CatalogItem.tags, CatalogItem.owner, CatalogItem.maintainers)
                .where(*conditions)
                .order_by(*order)
            ).all()
            if tag:
                found = [r for r in found if tag in (r.tags or [])]
            if owner:  # the owner its manifest (or an admin) names, or one of its maintainers
                found = [r for r in found if r.owner == owner or owner in (r.maintainers or [])]
            total = len(found)
            ids = [r.id for r in found[(page - 1) * page_size : page * page_size]]
        else:
            total = s.scalar(select(func.count()).select_from(CatalogItem).where(*conditions)) or 0
            ids = list(
                s.scalars(
                    select(CatalogItem.id)
                    .where(*conditions)
                    .order_by(*order)
                    .limit(page_size)
                    .offset((page - 1) * page_size)
                )
            )
        loaded = {i.id: i for i in s.scalars(select(CatalogItem).where(CatalogItem.id.in_(ids)))} if ids else {}
        rows = _rows(s, actor, [loaded[i] for i in ids])
    return AdminItemPage(items=rows, total=total)


def get_item(actor: Principal, item_id: str) -> AdminItemDetail:
    with db.read() as s:
        item = administration.item_row(s, item_id)
        return _detail(s, actor, item)


def _detail(s: Session, actor: Principal, item: CatalogItem) -> AdminItemDetail:
    row = _rows(s, actor, [item])[0]
    # Newest import first among versions semver ranks equal (build metadata): the sort below is stable.
    versions = list(
        s.scalars(select(CatalogVersion).where(CatalogVersion.item_id == item.id).order_by(CatalogVersion.id.desc()))
    )
    versions.sort(key=lambda v: version_sort_key(v.version), reverse=True)
    uses = [{k: d[k] for k in ("version", "item_id", "range", "resolved")} for d in dependencies.uses(s, item.id)]
    pointers: dict[str, list[str]] = {}
    for name, version in row.channels.items():
        pointers.setdefault(version, []).append(name)
    events = s.scalars(
        select(CatalogVersionEvent)
        .where(CatalogVersionEvent.item_id == item.id)
        .order_by(CatalogVersionEvent.id.desc())
        .limit(200)
    )
    return AdminItemDetail(
        **row.model_dump(),
        description=item.description,
        notice=item.notice,
        review_policy=item.review_policy,
        review_required=(item.review_policy or get_settings().catalog_review) == "required",
        tests_required=item.tests_required
        if item.tests_required is not None
        else get_settings().catalog_tests_required,
        overrides=dict(item.overrides or {}),
        storage_bytes=quotas.item_usage(s, item.id),
        storage_quota_bytes=item.storage_quota_bytes,
        storage_quota_effective=quotas.item_quota(item),
        job_retention_days=item.job_retention_days,
        versions=[
            administration.version_out(v, pointers.get(v.version)).model_copy(
                update={
                    "dependencies": [d for d in uses if d["version"] == v.version],
                    "replaces": _replaced(versions[n + 1 :]),
                    "may_review": v.status == lifecycle.IN_REVIEW
                    and row.may_manage
                    and not access.imported(actor, v.imported_by),
                }
            )
            for n, v in enumerate(versions)
        ],
        used_by=dependencies.used_by(s, item.id),
        history=[VersionEventOut.model_validate(e, from_attributes=True) for e in events],
        channel_history=[ChannelEventOut.model_validate(e, from_attributes=True) for e in channels.history(s, item.id)],
    )


def _replaced(older: list[CatalogVersion]) -> str | None:
    """The version a new one replaces: the newest of the older ones (newest first) that requesters can run."""
    return next((v.version for v in older if v.status in lifecycle.RUNNABLE), None)


def _rows(s: Session, actor: Principal, items: list[CatalogItem]) -> list[AdminItemOut]:
    """Table rows for `items`, with their version states, channels and the runs of the last 30 days."""
    ids = [i.id for i in items]
    if not ids:
        return []
    states: dict[str, dict[str, int]] = {}
    for item_id, status, count in s.execute(
        select(CatalogVersion.item_id, CatalogVersion.status, func.count())
        .where(CatalogVersion.item_id.in_(ids))
        .group_by(CatalogVersion.item_id, CatalogVersion.status)
    ):
        states.setdefault(item_id, {})[status] = int(count)
    pointers: dict[str, dict[str, str]] = {}
    for item_id, name, version in s.execute(
        select(CatalogChannel.item_id, CatalogChannel.name, CatalogChannel.version).where(
            CatalogChannel.item_id.in_(ids)
        )
    ):
        pointers.setdefault(item_id, {})[name] = version
    since = hour_of(utcnow() - timedelta(days=STATS_DAYS))
    stats = {
        str(item_id): (int(runs or 0), int(succeeded or 0), int(failed or 0))
        for item_id, runs, succeeded, failed in s.execute(
            select(
                JobHourly.item_id,
                func.sum(JobHourly.created),
                func.sum(JobHourly.succeeded),
                func.sum(JobHourly.failed),
            )
            .where(JobHourly.item_id.in_(ids), JobHourly.hour >= since)
            .group_by(JobHourly.item_id)
        ).all()
    }
    last_runs = _last_runs(s, ids)
    rows = []
    for item in items:
        runs, succeeded, failed = stats.get(item.id, (0, 0, 0))
        finished = succeeded + failed
        named = dict(pointers.get(item.id, {}))
        if item.latest_version:
            named[LATEST] = item.latest_version
        rows.append(
            AdminItemOut(
                id=item.id,
                name=item.name,
                category=item.category,
                tags=list(item.tags or []),
                owner=item.owner,
                maintainers=list(item.maintainers or []),
                featured=item.featured,
                latest_version=item.latest_version,
                channels=named,
                states=states.get(item.id, {}),
                pending_reviews=states.get(item.id, {}).get(lifecycle.IN_REVIEW, 0),
                last_run_at=last_runs.get(item.id),
                runs_30d=runs,
                success_rate_30d=round(succeeded / finished, 4) if finished else None,
                updated_at=item.updated_at,
                may_manage=access.may_manage(actor, item.maintainers),
            )
        )
    return rows


def dependency_graph() -> DependencyGraph:
    with db.read() as s:
        return DependencyGraph.model_validate(dependencies.graph(s))


def _last_runs(s: Session, ids: list[str]) -> dict[str, Any]:
    """Each item's last run: the newest of its jobs that is a run, one backwards read of the index on (item,
    id) per item, all in one statement (one round trip)."""
    newest = (
        select(Job.created_at)
        .where(Job.item_id == CatalogItem.id, Job.kind == kinds.TASK)
        .order_by(Job.id.desc())
        .limit(1)
        .correlate(CatalogItem)
        .scalar_subquery()
    )
    return dict(s.execute(select(CatalogItem.id, newest).where(CatalogItem.id.in_(ids))).all())
