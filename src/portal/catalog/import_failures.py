"""Failed import attempts, kept with their problems: an import refuses everything on one problem, so what it
refused would otherwise leave no trace but an answer or a failed job."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import delete, func, select

from portal.catalog.models import ImportFailure
from portal.db import session as db
from portal.errors import PortalError

log = logging.getLogger(__name__)
KEEP = 10_000  # the newest attempts kept; older ones go as new ones come


def record(
    source: str, target: str, actor: str, error: PortalError, item_id: str | None = None, version: str | None = None
) -> None:
    """Keep a failed attempt (in a transaction of its own: the import's own rolled back)."""
    try:
        with db.write() as s:
            s.add(
                ImportFailure(
                    source=source,
                    target=target[:2000],
                    actor=actor,
                    item_id=item_id,
                    version=version,
                    code=error.code,
                    message=error.message[:2000],
                    problems=error.details,
                )
            )
            s.flush()
            newest = s.scalar(select(func.max(ImportFailure.id))) or 0
            s.execute(delete(ImportFailure).where(ImportFailure.id <= newest - KEEP))
    except Exception:  # the attempt's own error is what the caller must see
        log.exception("a failed import could not be recorded")


# What the content of an import was refused for (not who asked, or where from): problems of the items, conflicts
# with what is registered, quotas, and Git failing to fetch; not a path outside the allowed roots (403, which
# would show the server's roots), a missing folder (404), or a cancelled import.
RECORDED = ("validation_failed", "conflict", "quota_exceeded", "git_failed", "payload_too_large")


@contextmanager
def recorded(source: str, target: str, actor: str, item_id: str | None = None) -> Iterator[None]:
    """Record the attempt the block makes if its content is refused (the error goes on)."""
    try:
        yield
    except PortalError as exc:
        if exc.code in RECORDED:
            record(source, target, actor, exc, item_id=item_id)
        raise


def page(offset: int, limit: int) -> tuple[list[ImportFailure], int]:
    """The newest attempts first."""
    with db.read() as s:
        total = int(s.scalar(select(func.count()).select_from(ImportFailure)) or 0)
        rows = list(s.scalars(select(ImportFailure).order_by(ImportFailure.id.desc()).offset(offset).limit(limit)))
    return rows, total


def since(at: datetime) -> tuple[int, ImportFailure | None]:
    """How many attempts failed since `at`, and the newest of them."""
    with db.read() as s:
        count = int(s.scalar(select(func.count()).where(ImportFailure.at >= at)) or 0)
        newest = s.scalars(select(ImportFailure).order_by(ImportFailure.id.desc()).limit(1)).first() if count else None
    return count, newest
