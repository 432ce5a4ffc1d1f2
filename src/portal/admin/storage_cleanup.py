"""Storage cleanup with a preview: the orphaned bundles (no version refers to them and no job ran them, counting
the versions archived past their retention as gone), those versions, and this node's extracted copies of bundles
that are gone or that nothing can run now. The preview and the cleanup compute the same plan; the cleanup may be
held to the bundles a preview listed. Never a bundle that a job or a kept version refers to: the plan is
computed in the cleanup's own transaction, and the foreign key from versions to bundles refuses the rest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, exists, select
from sqlalchemy.orm import Session

from portal.admin.storage_schemas import CacheEviction, CleanupReport, RemovedBundle
from portal.audit import service as audit
from portal.catalog import administration, lifecycle, storage
from portal.catalog.models import Bundle, CatalogVersion
from portal.db import session as db
from portal.identity.principal import Principal
from portal.jobs.models import Job
from portal.jobs.states import ACTIVE

# Versions in these states run nothing, not even a test or a dry run, unless restored (which extracts again).
_IDLE = (lifecycle.ARCHIVED,)
CHUNK = 500  # bundles per statement: far below any database's limit on bound values


@dataclass
class _Plan:
    bundles: list[Bundle]
    versions: list[str]
    cache: dict[str, int]


def cleanup(actor: Principal, *, dry_run: bool, only: list[str] | None = None) -> CleanupReport:
    """Preview (`dry_run`) or carry out the cleanup; `only`: remove no bundle but these."""
    cached = storage.cached_bundles()  # a walk of the disk: before the transaction, never inside it
    if dry_run:
        with db.read() as s:
            plan = _plan(s, only, cached)
        return _report(plan, plan.bundles, dry_run=True)
    with storage.removing():
        report = _carry_out(actor, only, cached)
    storage.sweep_leftovers()
    return report


def _carry_out(actor: Principal, only: list[str] | None, cached: dict[str, int]) -> CleanupReport:
    aside: list[tuple[Path, Path]] = []
    try:
        with db.write() as s:
            plan = _plan(s, only, cached)
            purged = administration.purge_archived_in(s) if plan.versions else []
            removed = _remove(s, [b.sha256 for b in plan.bundles])
            aside = storage.remove_stored(s, sorted(removed))
            report = _report(plan, [b for b in plan.bundles if b.sha256 in removed], dry_run=False)
            report = report.model_copy(update={"versions": purged})
            audit.record(
                s,
                actor,
                "storage.cleanup",
                target_type="storage",
                details={
                    "bundles": sorted(removed),
                    "bytes": report.bytes,
                    "versions": purged,
                    "cache_entries": report.cache.entries,
                },
            )
            settled = list(aside)
            db.after_commit(s, lambda: storage.settle_removal(settled, committed=True))
            candidates = dict(plan.cache)
            db.after_commit(s, lambda: _evict(candidates, removed))
    except BaseException:
        storage.settle_removal(aside, committed=False)
        raise
    return report


def orphaned() -> Any:
    """The condition on `Bundle` of an orphan: no version refers to it (counting versions archived past their
    retention as gone) and no job ran it."""
    purgeable = administration.past_retention(administration.purge_cutoff())
    kept = exists().where(CatalogVersion.bundle_sha256 == Bundle.sha256, ~purgeable)
    ran = exists().where(Job.bundle_sha256 == Bundle.sha256)
    return and_(~kept, ~ran)


def _plan(s: Session, only: list[str] | None, cached: dict[str, int]) -> _Plan:
    orphans = list(s.scalars(select(Bundle).where(orphaned()).order_by(Bundle.created_at, Bundle.sha256)))
    if only is not None:
        wanted = set(only)
        orphans = [b for b in orphans if b.sha256 in wanted]
    purgeable = administration.past_retention(administration.purge_cutoff())
    purged = s.execute(select(CatalogVersion.item_id, CatalogVersion.version).where(purgeable))
    versions = [f"{item_id}@{version}" for item_id, version in purged]
    removed = {b.sha256 for b in orphans}
    return _Plan(bundles=orphans, versions=sorted(versions), cache=_evictable(s, cached, removed))


def _remove(s: Session, sha256s: list[str]) -> set[str]:
    """Delete the rows of these bundles that nothing refers to now, and say which went. The rows are locked first
    (on PostgreSQL: a job being created for one holds it with a key-share lock, and this waits for it), and the
    condition is read after the lock, so a job or a version that refers to a bundle meanwhile keeps it."""
    removed: set[str] = set()
    for start in range(0, len(sha256s), CHUNK):
        chunk = sha256s[start : start + CHUNK]
        s.execute(select(Bundle.sha256).where(Bundle.sha256.in_(chunk)).with_for_update())
        referred = exists().where(CatalogVersion.bundle_sha256 == Bundle.sha256)
        ran = exists().where(Job.bundle_sha256 == Bundle.sha256)
        gone = s.scalars(delete(Bundle).where(Bundle.sha256.in_(chunk), ~referred, ~ran).returning(Bundle.sha256))
        removed.update(gone)
    return removed


def _evictable(s: Session, cached: dict[str, int], removed: set[str]) -> dict[str, int]:
    """This node's cache entries whose bundle is gone (or goes now), or whose versions are all archived while no
    unfinished job uses it."""
    if not cached:
        return {}
    keep = _in_use(s, list(cached))
    return {sha: size for sha, size in cached.items() if sha in removed or sha not in keep}


def _in_use(s: Session, names: list[str]) -> set[str]:
    """Which of these bundles a stored version that may run (a test or a dry run included) or an unfinished job
    needs."""
    used: set[str] = set()
    for start in range(0, len(names), CHUNK):
        chunk = names[start : start + CHUNK]
        used.update(
            s.scalars(
                select(CatalogVersion.bundle_sha256).where(
                    CatalogVersion.bundle_sha256.in_(chunk), CatalogVersion.status.not_in(_IDLE)
                )
            )
        )
        used.update(s.scalars(select(Job.bundle_sha256).where(Job.bundle_sha256.in_(chunk), Job.state.in_(ACTIVE))))
    return used


def _evict(candidates: dict[str, int], removed: set[str]) -> None:
    """Evict the planned cache entries, asking again first: a job queued since the plan keeps its folder."""
    with db.read() as s:
        keep = _in_use(s, [sha for sha in candidates if sha not in removed])
    storage.evict_cached(sha for sha in candidates if sha not in keep)


def _report(plan: _Plan, bundles: list[Bundle], *, dry_run: bool) -> CleanupReport:
    return CleanupReport(
        dry_run=dry_run,
        bundles=[RemovedBundle(sha256=b.sha256, size=b.size, created_at=b.created_at) for b in bundles],
        bytes=sum(b.size for b in bundles),
        versions=plan.versions,
        cache=CacheEviction(entries=len(plan.cache), bytes=sum(plan.cache.values())),
    )
