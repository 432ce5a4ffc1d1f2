"""Catalog administration, the changes: lifecycle transitions, reviews (four eyes), channels and metadata.
Publishers manage the items they maintain, admins every item; every change is audited with before and after
(`lifecycle.record`, `channels`). The admin pages' reads, with the items' runs, are `admin.catalog`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.catalog import access, channels, dependencies, lifecycle
from portal.catalog.admin_schemas import (
    AdminVersionOut,
    ItemUpdate,
    PendingReviews,
    ReviewOut,
)
from portal.catalog.models import CatalogItem, CatalogVersion
from portal.catalog.service import refresh_item
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict, Forbidden, NotFound, ValidationFailed
from portal.identity.principal import Principal
from portal.identity.roles import Role
from portal.settings import get_settings

SORTS = {"id": CatalogItem.id, "name": CatalogItem.name, "updated_at": CatalogItem.updated_at}
STATS_DAYS = 30
# What may hold a version back from becoming active, besides the lifecycle (its tests, say): each says why, or
# None. Filled at start-up by whoever owns the check (`bootstrap`).
ActivationGate = Callable[[CatalogItem, CatalogVersion], str | None]
activation_gates: list[ActivationGate] = []
NEEDS_REASON = frozenset({lifecycle.DEPRECATED, lifecycle.ARCHIVED, lifecycle.REJECTED})
OVERRIDABLE = ("name", "description", "category", "tags", "owner")
MAX_PAGE_SIZE = 200


# --- reviews waiting ------------------------------------------------------------------------------------------


def pending_reviews(actor: Principal) -> PendingReviews:
    """The versions in review the caller may decide on (not their own), and their own that wait."""
    with db.read() as s:
        rows = s.execute(
            select(
                CatalogVersion.item_id,
                CatalogItem.name,
                CatalogVersion.version,
                CatalogVersion.imported_by,
                CatalogVersion.imported_at,
                CatalogItem.maintainers,
            )
            .join(CatalogItem, CatalogItem.id == CatalogVersion.item_id)
            .where(CatalogVersion.status == lifecycle.IN_REVIEW)
            .order_by(CatalogVersion.imported_at, CatalogVersion.id)
        ).all()
    to_review, mine = [], []
    for item_id, name, version, imported_by, imported_at, maintainers in rows:
        entry = ReviewOut(
            item_id=item_id, item_name=name, version=version, imported_by=imported_by, imported_at=imported_at
        )
        if access.imported(actor, imported_by):
            mine.append(entry)
        elif access.may_manage(actor, maintainers):
            to_review.append(entry)
    return PendingReviews(to_review=to_review, mine=mine)


# --- changing -------------------------------------------------------------------------------------------------


def transition(
    actor: Principal,
    item_id: str,
    version: str,
    to: str,
    reason: str | None,
    sunset_at: datetime | None = None,
    confirm: list[str] | None = None,
) -> AdminVersionOut:
    """Move a version along the lifecycle (not through a review: see `review`). Deprecating or archiving a
    version other items' versions depend on needs `confirm` to name each of them."""
    with db.write() as s:
        item, row = _managed_version(s, actor, item_id, version)
        check_transition(item, row, to, reason, sunset_at)
        check_dependents(s, row, to, confirm)
        move(s, actor, item, row, to, reason, sunset_at)
        return version_out(row, _channels_on(s, row))


def check_transition(
    item: CatalogItem, row: CatalogVersion, to: str, reason: str | None, sunset_at: datetime | None
) -> None:
    """Every reason a transition is refused, before anything changes (the bulk preview asks this too)."""
    lifecycle.check_edge(row.status, to)
    if (row.status, to) in lifecycle.REVIEW_EDGES:
        raise Conflict(
            f"{item.id} {row.version} is in review: a reviewer approves or rejects it (the review endpoint)",
            details={"from": row.status, "to": to},
        )
    if row.status == lifecycle.ARCHIVED and to != lifecycle.DRAFT and to != row.archived_from:
        raise Conflict(
            f"{item.id} {row.version} is restored to the state it had ({row.archived_from}) or to draft",
            details={"from": row.status, "to": to, "restores_to": row.archived_from},
        )
    if to == lifecycle.ACTIVE and row.status == lifecycle.DRAFT and _review_required(item):
        raise Conflict(
            f"{item.id} needs a review before a version becomes active: send it to review (in_review)",
            details={"from": row.status, "to": to},
        )
    if to == lifecycle.ACTIVE:
        check_gates(item, row)
    if to in NEEDS_REASON and not (reason or "").strip():
        raise ValidationFailed(f"moving to {to} needs a reason", details=[{"field": "reason", "message": "required"}])
    if sunset_at is not None and (to != lifecycle.DEPRECATED or sunset_at <= utcnow()):
        raise ValidationFailed(
            "a sunset date is for a deprecation, and in the future",
            details=[{"field": "sunset_at", "message": "only with to=deprecated, after now"}],
        )


def check_dependents(s: Session, row: CatalogVersion, to: str, confirm: list[str] | None) -> None:
    """Conflict listing the versions that depend on `row` when it is deprecated or leaves the runnable states,
    unless `confirm` names every one of them."""
    if row.status not in lifecycle.RUNNABLE or (to in lifecycle.RUNNABLE and to != lifecycle.DEPRECATED):
        return
    waiting = dependencies.dependents(s, row.item_id, row.version)
    unconfirmed = sorted(set(waiting) - set(confirm or []))
    if unconfirmed:
        raise Conflict(
            f"{len(waiting)} version(s) of other items depend on {row.item_id} {row.version}: "
            f"confirm by naming them ({', '.join(waiting)})",
            details={"dependents": waiting, "confirm": "send them back in `confirm`"},
        )


def move(
    s: Session,
    actor: Principal,
    item: CatalogItem,
    row: CatalogVersion,
    to: str,
    reason: str | None,
    sunset_at: datetime | None = None,
) -> None:
    lifecycle.record(s, actor, row, to, reason, sunset_at=sunset_at)
    if to not in lifecycle.RUNNABLE:
        channels.drop_version(s, actor, item.id, row.version, f"{row.version} is {to}")
    s.flush()
    refresh_item(s, item.id)


def review(actor: Principal, item_id: str, version: str, decision: str, reason: str | None) -> AdminVersionOut:
    """Approve (-> active) or reject (-> rejected, with the reason) a version in review. The reviewer is never
    the version's importer (four eyes)."""
    with db.write() as s:
        item, row = _managed_version(s, actor, item_id, version)
        check_review(actor, item, row, decision, reason)
        decide(s, actor, item, row, decision, reason)
        return version_out(row, _channels_on(s, row))


def check_review(actor: Principal, item: CatalogItem, row: CatalogVersion, decision: str, reason: str | None) -> None:
    """Why a review would be refused: not by the importer, only of a version in review, a rejection's reason,
    an approval a gate (its tests) holds back."""
    if access.imported(actor, row.imported_by):
        raise Forbidden(
            f"{actor.username} brought {row.item_id} {row.version} in: someone else reviews it",
            details={"imported_by": row.imported_by},
        )
    if row.status != lifecycle.IN_REVIEW:
        raise Conflict(
            f"{row.item_id} {row.version} is {row.status}, not in review", details={"from": row.status, "to": decision}
        )
    if decision == "reject" and not (reason or "").strip():
        raise ValidationFailed("a rejection needs a reason", details=[{"field": "reason", "message": "required"}])
    if decision == "approve":
        check_gates(item, row)


def check_gates(item: CatalogItem, row: CatalogVersion) -> None:
    """Conflict when a gate holds the version back from becoming active."""
    for gate in activation_gates:
        why = gate(item, row)
        if why:
            raise Conflict(f"{item.id} {row.version} cannot become active: {why}", details={"gate": why})


def decide(
    s: Session, actor: Principal, item: CatalogItem, row: CatalogVersion, decision: str, reason: str | None
) -> None:
    """Record a checked review: approved -> active, rejected -> rejected."""
    to = lifecycle.ACTIVE if decision == "approve" else lifecycle.REJECTED
    row.reviewed_by, row.reviewed_at = actor.username, utcnow()
    lifecycle.record(s, actor, row, to, reason, action=f"catalog.version.{decision}")
    if to not in lifecycle.RUNNABLE:
        channels.drop_version(s, actor, item.id, row.version, f"{row.version} was rejected")
    s.flush()
    refresh_item(s, item.id)


def set_channel(actor: Principal, item_id: str, name: str, version: str, reason: str | None) -> None:
    with db.write() as s:
        item = item_row(s, item_id)
        access.check_may_manage(actor, item)
        channels.promote(s, actor, item_id, name, version, reason)


def remove_channel(actor: Principal, item_id: str, name: str, reason: str | None) -> None:
    with db.write() as s:
        item = item_row(s, item_id)
        access.check_may_manage(actor, item)
        channels.remove(s, actor, item_id, name, reason)


def update_item(actor: Principal, item_id: str, body: ItemUpdate) -> None:
    """Metadata without a new bundle: overrides of the manifest's presentation, featured, notice; the review
    policy and the maintainers are for admins. Audited with before and after."""
    given = body.model_dump(exclude_unset=True)
    if not given:
        raise ValidationFailed("nothing to change", details=[{"field": "(body)", "message": "give a field"}])
    admin_only = sorted(
        k
        for k in ("review_policy", "maintainers", "tests_required", "storage_quota_bytes", "job_retention_days")
        if k in given
    )
    if admin_only and not actor.has(Role.admin):
        raise Forbidden(f"only an admin changes {', '.join(admin_only)}", details={"fields": admin_only})
    with db.write() as s:
        item = item_row(s, item_id)
        access.check_may_manage(actor, item)
        before = _metadata(item)
        overrides = dict(item.overrides or {})
        for key in OVERRIDABLE:
            if key in given:
                if given[key] is None:
                    overrides.pop(key, None)
                else:
                    overrides[key] = given[key]
        item.overrides = overrides or None
        if "featured" in given:
            item.featured = bool(given["featured"])
        if "notice" in given:
            item.notice = (given["notice"] or "").strip() or None
        if "review_policy" in given:
            item.review_policy = None if given["review_policy"] in (None, "default") else given["review_policy"]
        if "maintainers" in given:
            item.maintainers = sorted(set(given["maintainers"] or [])) or None
        if "tests_required" in given:
            item.tests_required = given["tests_required"]
        if "storage_quota_bytes" in given:
            item.storage_quota_bytes = given["storage_quota_bytes"]
        if "job_retention_days" in given:
            item.job_retention_days = given["job_retention_days"]
        refresh_item(s, item_id)
        audit.record(
            s,
            actor,
            "catalog.item.update",
            target_type="item",
            target_id=item_id,
            details={"before": before, "after": _metadata(item)},
        )


def purge_archived(now: datetime | None = None) -> list[str]:
    """Forget the versions archived longer than PORTAL_CATALOG_ARCHIVE_RETENTION_DAYS (their history, audit
    entries and bundles stay: jobs that ran them keep their bundle). Returns `item@version` of each one."""
    with db.write() as s:
        return purge_archived_in(s, now)


def purge_cutoff(now: datetime | None = None) -> datetime:
    """Versions archived before this are past their retention."""
    return (now or utcnow()) - timedelta(days=get_settings().catalog_archive_retention_days)


def past_retention(cutoff: datetime) -> Any:
    """The condition on `CatalogVersion` of a version archived before `cutoff`."""
    # A version archived without a date (a legacy registry's) is not past anything: it stays, and keeps its bundle.
    return and_(
        CatalogVersion.status == lifecycle.ARCHIVED,
        CatalogVersion.status_changed_at.is_not(None),
        CatalogVersion.status_changed_at < cutoff,
    )


def purge_archived_in(s: Session, now: datetime | None = None) -> list[str]:
    """`purge_archived` in the transaction of `s` (the storage cleanup purges with the bundles it removes)."""
    # A bulk delete: another node purging at the same moment makes this one find nothing, not fail.
    rows = s.execute(
        delete(CatalogVersion)
        .where(past_retention(purge_cutoff(now)))
        .returning(CatalogVersion.item_id, CatalogVersion.version, CatalogVersion.status_changed_at)
    ).all()
    for row in rows:
        dependencies.forget(s, row.item_id, row.version)
        audit.record(
            s,
            None,
            "catalog.version.purge",
            target_type="item_version",
            target_id=f"{row.item_id}@{row.version}",
            details={"archived_at": row.status_changed_at.isoformat() if row.status_changed_at else None},
            actor_name="system",
        )
    s.flush()
    for item_id in {row.item_id for row in rows}:
        refresh_item(s, item_id)
    return [f"{row.item_id}@{row.version}" for row in rows]


# --- helpers --------------------------------------------------------------------------------------------------


def item_row(s: Session, item_id: str) -> CatalogItem:
    item = s.get(CatalogItem, item_id)
    if item is None:
        raise NotFound(f"catalog item {item_id!r} not found", details={"field": "item_id"})
    return item


def _managed_version(s: Session, actor: Principal, item_id: str, version: str) -> tuple[CatalogItem, CatalogVersion]:
    item = item_row(s, item_id)
    access.check_may_manage(actor, item)
    row = s.scalar(select(CatalogVersion).where(CatalogVersion.item_id == item_id, CatalogVersion.version == version))
    if row is None:
        raise NotFound(f"version {version!r} of {item_id!r} not found", details={"field": "version"})
    return item, row


def _review_required(item: CatalogItem) -> bool:
    return (item.review_policy or get_settings().catalog_review) == "required"


def version_out(row: CatalogVersion, on: list[str] | None = None) -> AdminVersionOut:
    """A version as the admin pages show it; `on`: the channels that point to it."""
    return AdminVersionOut(
        version=row.version,
        state=row.status,
        reason=row.status_reason,
        sunset_at=row.sunset_at,
        restores_to=row.archived_from if row.status == lifecycle.ARCHIVED else None,
        bundle_sha256=row.bundle_sha256,
        source=row.source,
        imported_by=row.imported_by,
        imported_at=row.imported_at,
        reviewed_by=row.reviewed_by,
        reviewed_at=row.reviewed_at,
        state_changed_by=row.status_changed_by,
        state_changed_at=row.status_changed_at,
        channels=sorted(on or []),
    )


def _channels_on(s: Session, row: CatalogVersion) -> list[str]:
    return [name for name, version in channels.stored(s, row.item_id).items() if version == row.version]


def _metadata(item: CatalogItem) -> dict[str, Any]:
    return {
        "overrides": dict(item.overrides or {}),
        "featured": item.featured,
        "notice": item.notice,
        "review_policy": item.review_policy,
        "maintainers": list(item.maintainers or []),
        "tests_required": item.tests_required,
        "storage_quota_bytes": item.storage_quota_bytes,
        "job_retention_days": item.job_retention_days,
    }
