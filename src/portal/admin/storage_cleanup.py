"""Storage cleanup with a preview: the orphaned bundles (no version refers to them and no job ran them, counting
the versions archived past their retention as gone), those versions, and this node's extracted copies of bundles
that are gone or that nothing can run now. The preview and the cleanup compute the same plan; the cleanup may be
held to the bundles a preview listed. Never a bundle that a job or a kept version refers to: the plan is
computed in the cleanup's own transaction, and the foreign key from versions to bundles refuses the rest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from portal.admin.storage_schemas import CacheEviction, CleanupReport, RemovedBundle
from portal.audit import service as audit
from portal.catalog import administration, lifecycle, storage
from portal.catalog.models import Bundle, CatalogVersion
from portal.db import session as db
from portal.identity.principal import Principal
from portal.jobs.models import Job
from portal.jobs.states import ACTIVE

# Versions in these states run nothing and will not, unless restored (which extracts their bundle again).
_IDLE = (lifecycle.ARCHIVED, lifecycle.REJECTED)


@dataclass
class _Plan:
    bundles: list[Bundle]
    versions: list[str]
    cache: dict[str, int]


def cleanup(actor: Principal, *, dry_run: bool, only: list[str] | None = None) -> CleanupReport:
    """Preview (`dry_run`) or carry out the cleanup; `only`: remove no bundle but these."""
    if dry_run:
        with db.read() as s:
            plan = _plan(s, only)
        return _report(plan, dry_run=True)
    aside: list[tuple[Path, Path]] = []
    try:
        with db.write() as s:
            plan = _plan(s, only)
            purged = administration.purge_archived_in(s) if plan.versions else []
            shas = [b.sha256 for b in plan.bundles]
            aside = storage.remove_bundles(s, shas)
            report = _report(plan, dry_run=False).model_copy(update={"versions": purged})
            audit.record(
                s,
                actor,
                "storage.cleanup",
                target_type="storage",
                details={
                    "bundles": shas,
                    "bytes": report.bytes,
                    "versions": purged,
                    "cache_entries": report.cache.entries,
                },
            )
            settled = list(aside)
            db.after_commit(s, lambda: storage.settle_removal(settled, committed=True))
            evicted = sorted(plan.cache)
            db.after_commit(s, lambda: storage.evict_cached(evicted))
    except BaseException:
        storage.settle_removal(aside, committed=False)
        raise
    return report


def _plan(s: Session, only: list[str] | None) -> _Plan:
    cutoff = administration.purge_cutoff()
    purgeable = administration.past_retention(cutoff)
    kept = exists().where(CatalogVersion.bundle_sha256 == Bundle.sha256, ~purgeable)
    ran = exists().where(Job.bundle_sha256 == Bundle.sha256)
    orphans = list(s.scalars(select(Bundle).where(~kept, ~ran).order_by(Bundle.created_at, Bundle.sha256)))
    if only is not None:
        wanted = set(only)
        orphans = [b for b in orphans if b.sha256 in wanted]
    versions = [
        f"{i}@{v}" for i, v in s.execute(select(CatalogVersion.item_id, CatalogVersion.version).where(purgeable))
    ]
    return _Plan(bundles=orphans, versions=sorted(versions), cache=_evictable(s, {b.sha256 for b in orphans}))


def _evictable(s: Session, removed: set[str]) -> dict[str, int]:
    """This node's cache entries whose bundle is gone (or goes now), or whose versions are all archived or
    rejected while no unfinished job uses it."""
    cached = storage.cached_bundles()
    if not cached:
        return {}
    names = list(cached)
    known = set(s.scalars(select(Bundle.sha256).where(Bundle.sha256.in_(names))))
    runnable = set(
        s.scalars(
            select(CatalogVersion.bundle_sha256).where(
                CatalogVersion.bundle_sha256.in_(names), CatalogVersion.status.not_in(_IDLE)
            )
        )
    )
    busy = set(s.scalars(select(Job.bundle_sha256).where(Job.bundle_sha256.in_(names), Job.state.in_(ACTIVE))))
    return {
        sha: size
        for sha, size in cached.items()
        if sha in removed or sha not in known or (sha not in runnable and sha not in busy)
    }


def _report(plan: _Plan, *, dry_run: bool) -> CleanupReport:
    return CleanupReport(
        dry_run=dry_run,
        bundles=[RemovedBundle(sha256=b.sha256, size=b.size, created_at=b.created_at) for b in plan.bundles],
        bytes=sum(b.size for b in plan.bundles),
        versions=plan.versions,
        cache=CacheEviction(entries=len(plan.cache), bytes=sum(plan.cache.values())),
    )
