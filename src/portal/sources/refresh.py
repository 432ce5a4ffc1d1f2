"""Asking for refreshes: the refresh button, a save or rollback with `refresh=true`, and the poll duty each queue
a `source_refresh` job (carried out by `sources.runner.run_refresh`).

One refresh per source at a time: asking while one is queued or running answers that one. Asking again sooner
than PORTAL_SOURCES_REFRESH_MIN_SECONDS after one ended is a 429 with `Retry-After` (the button; a save's and the
poll's refreshes are not limited, only deduplicated). The decision and the insert are one unit of work, with the
source's status row locked on PostgreSQL (SQLite has one writer), so two nodes asking at once make one job.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict, PortalError, RateLimited
from portal.identity.principal import Principal
from portal.jobs import kind_jobs, kinds
from portal.jobs.schemas import JobOut
from portal.settings import get_settings
from portal.sources import service, status
from portal.sources.models import SourceRefreshStatus
from portal.sources.runner import find_source
from portal.sources.schemas import SaveResult

log = logging.getLogger(__name__)
POLL_ACTOR = "sources poll"


def _timeout_seconds() -> int:
    """A refresh lists the tags and fetches each new one: a generous bound, killed past it."""
    return get_settings().git_timeout_seconds * 10 + 300


def request_refresh(
    actor: Principal | None, source_id: str, *, why: str, limited: bool = True, actor_name: str | None = None
) -> tuple[JobOut, bool]:
    """The source's refresh job, and whether it is new (False: one was already queued or running). 404 for an
    unknown source, 409 for a disabled one, 429 with `limited` when one ended too recently."""
    source = find_source(source_id)
    if not source.enabled:
        raise Conflict(f"source {source_id} is disabled: enable it to refresh it", code="source_disabled")
    for attempt in (1, 2):
        try:
            return _queue(actor, source_id, source.type, why, limited, actor_name)
        except IntegrityError:  # another node made the status row at the same moment
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _queue(
    actor: Principal | None, source_id: str, source_type: str, why: str, limited: bool, actor_name: str | None
) -> tuple[JobOut, bool]:
    with db.write() as s:
        row = status.row_for(s, source_id, lock=True)
        active = kind_jobs.active_job_of(s, kinds.SOURCE_REFRESH, source_id)
        if active is not None:
            return active, False
        minimum = get_settings().sources_refresh_min_seconds
        ended = kind_jobs.last_finished_of(s, kinds.SOURCE_REFRESH, source_id)
        if limited and ended is not None:
            wait = minimum - (utcnow() - ended).total_seconds()
            if wait > 0:
                raise RateLimited(
                    f"source {source_id} was refreshed {minimum - wait:.0f} s ago: wait {math.ceil(wait)} s",
                    retry_after=math.ceil(wait),
                )
        job = kind_jobs.insert_kind_job(
            s,
            actor,
            kind=kinds.SOURCE_REFRESH,
            subject=source_id,
            ref=source_type,
            inputs={"source_id": source_id},
            timeout_seconds=_timeout_seconds(),
            actor_name=actor_name,
            action="sources.refresh",
            audit_details={"source_id": source_id, "why": why},
        )
        row.requested_at = utcnow()
        status.announce(s, source_id)
    return job, True


def _refresh_changed(actor: Principal, before: dict[str, Any], result: SaveResult, why: str) -> SaveResult:
    after = service.current_content()
    status.reconcile(after.get("sources", []))
    if not result.saved:
        return result
    jobs = []
    for source_id in service.changed_enabled(before, after):
        try:
            job, _ = request_refresh(actor, source_id, why=why, limited=False)
            jobs.append(job.id)
        except PortalError as exc:
            log.warning("sources: no refresh of %s after the save: %s", source_id, exc.message)
    return result.model_copy(update={"refresh_jobs": jobs})


def save(
    actor: Principal,
    body: bytes,
    if_match: str | None,
    message: str,
    *,
    refresh: bool,
    yaml_input: bool = False,
    probe: bool = False,
) -> SaveResult:
    """`PUT`: save (`service.save`), then, with `refresh`, refresh each new or changed enabled source."""
    before = service.current_content()
    result = service.save(actor, body, if_match, message, yaml_input=yaml_input, probe=probe)
    return _refresh_changed(actor, before, result, "saved") if refresh else _reconciled(result)


def rollback(actor: Principal, revision_id: int, if_match: str | None, *, refresh: bool) -> SaveResult:
    """A rollback (`service.rollback`), then, with `refresh`, refresh each source it changed."""
    before = service.current_content()
    result = service.rollback(actor, revision_id, if_match)
    return _refresh_changed(actor, before, result, "rollback") if refresh else _reconciled(result)


def _reconciled(result: SaveResult) -> SaveResult:
    status.reconcile(service.current_content().get("sources", []))
    return result


def _due(row_times: list[datetime | None], poll_seconds: int, now: datetime) -> bool:
    last = max((t for t in row_times if t is not None), default=None)
    return last is None or (now - last).total_seconds() >= poll_seconds


def poll() -> None:
    """The poll duty: refresh each enabled source whose poll interval elapsed since its last refresh (or since it
    was first seen). One node at a time on PostgreSQL; a source with a refresh queued or running is skipped."""
    with db.exclusive("sources-poll"):
        sources = service.current_content().get("sources", [])
        status.reconcile(sources)
        now = utcnow()
        for source in sources:
            every = int(source.get("poll_seconds", 0))
            if not source.get("enabled", True) or every <= 0:
                continue
            with db.read() as s:
                row = s.get(SourceRefreshStatus, str(source["id"]))
                times = [row.last_refresh_time, row.requested_at, row.seen_at] if row is not None else []
            if row is None or not _due(times, every, now):
                continue
            try:
                request_refresh(None, str(source["id"]), why="poll", limited=False, actor_name=POLL_ACTOR)
            except PortalError as exc:
                log.warning("sources: the poll could not refresh %s: %s", source["id"], exc.message)
