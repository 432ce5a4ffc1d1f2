"""Bulk actions across catalog items and versions: deprecate, archive, restore, promote to a channel, tag and
approve. Each row is checked and done on its own (its own transaction, its own audit entry), so one refused row
never holds the others back; a dry run checks every row and changes nothing (the UI's preview)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.catalog import access, administration, channels, lifecycle
from portal.catalog.admin_schemas import (
    BulkTarget,
    CatalogBulkRequest,
    CatalogBulkResponse,
    CatalogBulkResult,
)
from portal.catalog.models import CatalogItem, CatalogVersion
from portal.catalog.service import refresh_item
from portal.db import session as db
from portal.errors import Conflict, PortalError, ValidationFailed
from portal.identity.principal import Principal


def run(actor: Principal, body: CatalogBulkRequest) -> CatalogBulkResponse:
    """Every target of `body`, in order, each with its outcome."""
    _check_request(body)
    results = [_one(actor, body, target) for target in body.targets]
    done = sum(1 for r in results if r.ok)
    return CatalogBulkResponse(
        action=body.action, dry_run=body.dry_run, done=done, refused=len(results) - done, results=results
    )


def _check_request(body: CatalogBulkRequest) -> None:
    if body.action == "promote" and not body.channel:
        raise ValidationFailed("promote needs a channel", details=[{"field": "channel", "message": "required"}])
    if body.action == "tag" and not body.tags:
        raise ValidationFailed("tag needs tags", details=[{"field": "tags", "message": "required"}])
    if body.action != "tag" and any(t.version is None for t in body.targets):
        raise ValidationFailed(
            f"{body.action} acts on versions", details=[{"field": "targets", "message": "give each a version"}]
        )


def _one(actor: Principal, body: CatalogBulkRequest, target: BulkTarget) -> CatalogBulkResult:
    def result(ok: bool, outcome: str, error: str | None = None) -> CatalogBulkResult:
        return CatalogBulkResult(item_id=target.item_id, version=target.version, ok=ok, outcome=outcome, error=error)

    try:
        session = db.read() if body.dry_run else db.write()
        with session as s:
            item = administration.item_row(s, target.item_id)
            access.check_may_manage(actor, item)
            row = None
            if target.version is not None:
                row = s.scalar(
                    select(CatalogVersion).where(
                        CatalogVersion.item_id == target.item_id, CatalogVersion.version == target.version
                    )
                )
                if row is None:
                    return result(False, f"version {target.version} not found", "not_found")
            if body.dry_run:
                return result(True, _preview(s, actor, body, item, row))
            return result(True, _do(s, actor, body, item, row))
    except PortalError as exc:
        return result(False, exc.message, exc.code)


def _preview(
    s: Session, actor: Principal, body: CatalogBulkRequest, item: CatalogItem, row: CatalogVersion | None
) -> str:
    """What the row would do, after every check the real action makes (a PortalError when it would be refused)."""
    if body.action == "tag":
        new = [t for t in body.tags or [] if t not in (item.tags or [])]
        return f"would add {', '.join(new)}" if new else "has these tags already"
    assert row is not None
    if body.action == "promote":
        channels.check_name(body.channel or "")
        if body.channel == channels.LATEST:
            raise Conflict("latest is computed (the highest active release): it cannot be set")
        if row.status not in lifecycle.RUNNABLE:
            raise Conflict(f"{item.id} {row.version} is {row.status}: it cannot be on a channel")
        return f"would point {body.channel} at {row.version}"
    if body.action == "approve":
        administration.check_review(actor, item, row, "approve", body.reason)
        return f"would approve {row.version} (in review -> active)"
    if body.action == "restore" and row.status != lifecycle.ARCHIVED:
        raise Conflict(f"{item.id} {row.version} is {row.status}, not archived", details={"from": row.status})
    to = _target_state(body.action, row)
    administration.check_transition(item, row, to, body.reason, None)
    administration.check_dependents(s, row, to, body.confirm)
    return f"would move {row.status} -> {to}"


def _do(s: Session, actor: Principal, body: CatalogBulkRequest, item: CatalogItem, row: CatalogVersion | None) -> str:
    outcome = _preview(s, actor, body, item, row).removeprefix("would ")
    if body.action == "tag":
        before = list(item.tags or [])
        overrides = dict(item.overrides or {})
        overrides["tags"] = before + [t for t in body.tags or [] if t not in before]
        item.overrides = overrides
        refresh_item(s, item.id)
        audit.record(
            s,
            actor,
            "catalog.item.update",
            target_type="item",
            target_id=item.id,
            details={"before": {"tags": before}, "after": {"tags": overrides["tags"]}, "bulk": True},
        )
        return outcome
    assert row is not None
    if body.action == "promote":
        channels.promote(s, actor, item.id, body.channel or "", row.version, body.reason)
        return outcome
    if body.action == "approve":
        administration.decide(s, actor, item, row, "approve", body.reason)
        return outcome
    administration.move(s, actor, item, row, _target_state(body.action, row), body.reason)
    return outcome


def _target_state(action: str, row: CatalogVersion) -> str:
    if action == "deprecate":
        return lifecycle.DEPRECATED
    if action == "archive":
        return lifecycle.ARCHIVED
    return row.archived_from or lifecycle.DRAFT  # restore: to the state it had
