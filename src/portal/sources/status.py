"""The persisted status of each source: how its last refresh went (a `sources_status` row per source id) and its
state now, which also reads the jobs (a queued or running `source_refresh` job newer than the last result means
"refreshing"). Every change is announced on the event bus as `sources.updated` once it commits.

Reconciliation makes this node's view of the current document whole: each source of it has its status row (the
time it was first seen starts its poll interval). It runs at start (`/readyz` waits for it), after each save
from the API, and before each poll, so a document applied from the CLI or saved on another node is taken in too.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.db import session as db
from portal.db.base import utcnow
from portal.events import bus
from portal.jobs import kind_jobs, kinds
from portal.sources.messages import SourcesUpdatedMessage
from portal.sources.models import SourceRefreshStatus
from portal.sources.schemas import SourceStatus

log = logging.getLogger(__name__)
MAX_PROBLEMS = 500  # per refresh; the rest are counted in versions_failed
_reconciled = threading.Event()


@dataclass
class Outcome:
    """What a refresh found, as its runner counts it."""

    imported: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def summary(self) -> str:
        parts = [f"{len(self.imported)} new", f"{len(self.unchanged)} unchanged", f"{len(self.failed)} failed"]
        if self.missing:
            parts.append(f"{len(self.missing)} gone from the source")
        return ", ".join(parts)


def _view(row: SourceRefreshStatus | None, enabled: bool, active_job: int | None) -> SourceStatus:
    settled = row is not None and row.last_refresh_status is not None
    refreshing = active_job is not None and (row is None or row.job_id is None or active_job > row.job_id)
    if not enabled:
        state = "disabled"
    elif refreshing:
        state = "refreshing"
    elif settled and row is not None and row.last_refresh_status == "failed":
        state = "error"
    else:
        state = "available"
    if row is None:
        return SourceStatus(state=state, job_id=active_job)
    return SourceStatus(
        state=state,
        last_refresh_time=row.last_refresh_time,
        last_refresh_status=row.last_refresh_status,
        summary=row.summary,
        versions_imported=row.versions_imported,
        versions_unchanged=row.versions_unchanged,
        versions_failed=row.versions_failed,
        versions_missing=list(row.versions_missing or []),
        error=row.error,
        duration_ms=row.duration_ms,
        problems=list(row.problems or []),
        job_id=active_job if refreshing else row.job_id,
    )


def statuses(s: Session, sources: list[dict[str, Any]]) -> dict[str, SourceStatus]:
    """The status of each source of a document, by id."""
    ids = [str(source.get("id")) for source in sources]
    rows = {
        r.source_id: r for r in s.scalars(select(SourceRefreshStatus).where(SourceRefreshStatus.source_id.in_(ids)))
    }
    active = kind_jobs.active_jobs_of(s, kinds.SOURCE_REFRESH, ids)
    return {
        str(source.get("id")): _view(
            rows.get(str(source.get("id"))), source.get("enabled", True), active.get(str(source.get("id")))
        )
        for source in sources
    }


def row_for(s: Session, source_id: str, *, lock: bool = False) -> SourceRefreshStatus:
    """The source's status row (made when missing), locked for the unit of work with `lock` on PostgreSQL."""
    row = s.get(SourceRefreshStatus, source_id, with_for_update=lock or None)
    if row is None:
        row = SourceRefreshStatus(
            source_id=source_id, state="available", summary="", versions_missing=[], problems=[], seen_at=utcnow()
        )
        s.add(row)
        s.flush()
    return row


def announce(s: Session, source_id: str, enabled: bool = True) -> None:
    """Publish the source's status once the unit of work commits (read then, so it says what was committed)."""

    def publish() -> None:
        with db.read() as r:
            status = statuses(r, [{"id": source_id, "enabled": enabled}])[source_id]
        bus.publish(SourcesUpdatedMessage(source_id=source_id, status=status).model_dump(mode="json"))

    db.after_commit(s, publish)


def record_result(source_id: str, job_id: int, outcome: Outcome | None, *, error: str | None, duration_ms: int) -> None:
    """Store how a refresh ended (`outcome` None: it failed as a whole with `error`) and announce it."""
    with db.write() as s:
        row = row_for(s, source_id, lock=True)
        row.last_refresh_time = utcnow()
        row.duration_ms = duration_ms
        row.job_id = job_id
        row.error = error
        if outcome is None:
            row.state, row.last_refresh_status = "error", "failed"
            row.summary = f"failed: {error}"[:1000]
            row.versions_imported = row.versions_unchanged = row.versions_failed = 0
            row.versions_missing = []
            row.problems = []
        else:
            row.state = "available"
            row.last_refresh_status = "partial" if outcome.failed else "succeeded"
            row.summary = outcome.summary
            row.versions_imported = len(outcome.imported)
            row.versions_unchanged = len(outcome.unchanged)
            row.versions_failed = len(outcome.failed)
            row.versions_missing = outcome.missing
            row.problems = outcome.problems[:MAX_PROBLEMS]
        announce(s, source_id)


def reconcile(sources: list[dict[str, Any]]) -> None:
    """Give each source of the current document its status row; marks this node's first reconciliation done."""
    ids = [str(source.get("id")) for source in sources]
    try:
        with db.write() as s:
            known = set(s.scalars(select(SourceRefreshStatus.source_id).where(SourceRefreshStatus.source_id.in_(ids))))
            for source_id in ids:
                if source_id not in known:
                    row_for(s, source_id)
    except IntegrityError:
        log.debug("sources: another node reconciled the same sources meanwhile")
    _reconciled.set()


def reconciled() -> bool:
    """Whether this process reconciled the sources once since it started."""
    return _reconciled.is_set()


def forget_reconciled() -> None:
    """A new process has not reconciled (a reset for tests that run portals in-process one after another)."""
    _reconciled.clear()
