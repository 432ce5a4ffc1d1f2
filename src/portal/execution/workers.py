"""The registry of worker processes: registration, heartbeats, and finding the ones that stopped beating."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from portal.db import session as db
from portal.db.base import utcnow
from portal.execution.models import Worker


def new_worker_id(kind: str) -> str:
    return f"{kind}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def register(worker_id: str, kind: str, slots: int, isolation: list[dict[str, Any]] | None = None) -> None:
    """Join the registry; `isolation` lists the protections its jobs run with ({name, on, detail})."""
    with db.write() as s:
        s.add(
            Worker(
                id=worker_id,
                kind=kind,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                slots=slots,
                isolation=isolation,
            )
        )


def heartbeat(worker_id: str, running: int) -> None:
    """The worker is alive; a worker reaped while it could not beat (an outage of its own) is alive again."""
    with db.write() as s:
        s.execute(
            update(Worker).where(Worker.id == worker_id).values(heartbeat_at=utcnow(), running=running, stopped_at=None)
        )


def mark_stopped(worker_id: str) -> None:
    with db.write() as s:
        s.execute(update(Worker).where(Worker.id == worker_id).values(stopped_at=utcnow(), running=0))


def previous_of_kind(kind: str, exclude: str) -> list[str]:
    """Workers of a kind, other than `exclude`, that never reported a stop: they ended abruptly."""
    with db.write() as s:
        ids = list(
            s.scalars(select(Worker.id).where(Worker.kind == kind, Worker.stopped_at.is_(None), Worker.id != exclude))
        )
        if ids:
            s.execute(update(Worker).where(Worker.id.in_(ids)).values(stopped_at=utcnow()))
    return ids


def lost(after_seconds: float) -> list[str]:
    """Workers that are not stopped but whose last heartbeat is older than `after_seconds`."""
    cutoff = utcnow() - timedelta(seconds=after_seconds)
    with db.read() as s:
        return list(s.scalars(select(Worker.id).where(Worker.stopped_at.is_(None), Worker.heartbeat_at < cutoff)))


def mark_lost(worker_ids: list[str]) -> None:
    """Workers whose running jobs were reaped: stop looking at them."""
    with db.write() as s:
        s.execute(update(Worker).where(Worker.id.in_(worker_ids)).values(stopped_at=utcnow(), running=0))


def recent(within_seconds: float = 24 * 3600) -> list[Worker]:
    """Workers that run now, and those that stopped within the last `within_seconds`, newest first."""
    cutoff = utcnow() - timedelta(seconds=within_seconds)
    with db.read() as s:
        return list(
            s.scalars(
                select(Worker)
                .where((Worker.stopped_at.is_(None)) | (Worker.stopped_at > cutoff))
                .order_by(Worker.started_at.desc())
                .limit(100)
            )
        )


def alive_on_host(kind: str, hostname: str, within_seconds: float) -> list[str]:
    """Workers of a kind on a host that run and have beaten within `within_seconds`."""
    cutoff = utcnow() - timedelta(seconds=within_seconds)
    with db.read() as s:
        return list(
            s.scalars(
                select(Worker.id).where(
                    Worker.kind == kind,
                    Worker.hostname == hostname,
                    Worker.stopped_at.is_(None),
                    Worker.heartbeat_at >= cutoff,
                )
            )
        )
