"""The system page: version, uptime, database, event bus, storage, this process, HTTP and job rates."""

from __future__ import annotations

import os
import resource
import shutil
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import QueuePool, text

from portal import __version__, instruments
from portal.admin.schemas import SystemStatus
from portal.catalog import storage as catalog_storage
from portal.db import session as db
from portal.db.base import utcnow
from portal.health import service as health_service
from portal.jobs import counters
from portal.realtime.hub import hub
from portal.settings import get_settings

STARTED_AT = utcnow()


def _database() -> dict[str, Any]:
    engine = db.get_engine()
    info: dict[str, Any] = {"dialect": engine.dialect.name, "url": engine.url.render_as_string(hide_password=True)}
    with db.read() as s:
        if engine.dialect.name == "sqlite":
            path = Path(engine.url.database or "")
            info["size_bytes"] = sum(
                p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
            )
        elif engine.dialect.name == "postgresql":
            info["size_bytes"] = s.scalar(text("SELECT pg_database_size(current_database())"))
    pool = engine.pool
    info["pool"] = {"class": type(pool).__name__, "status": pool.status()}
    if isinstance(pool, QueuePool):
        # QueuePool.overflow() is negative while fewer connections than the pool's size are open: the figures
        # here are the connections open, in use, and opened beyond the size.
        opened = pool.checkedin() + pool.checkedout()
        info["pool"].update(
            size=pool.size(), open=opened, checked_out=pool.checkedout(), overflow=max(0, opened - pool.size())
        )
    return info


def _process() -> dict[str, Any]:
    rss = None
    try:
        with open("/proc/self/statm") as fh:
            rss = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    return {
        "pid": os.getpid(),
        "rss_bytes": rss,
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "threads": threading.active_count(),
    }


def _jobs() -> dict[str, Any]:
    """Jobs finished in the current and the previous hour (from the rollups), as a throughput figure."""
    now = utcnow()
    since = counters.hour_of(now) - timedelta(hours=1)
    with db.read() as s:
        rows = counters.hourly_since(s.connection(), since)
    finished = sum(int(r.succeeded) + int(r.failed) + int(r.cancelled) for r in rows)
    minutes = max(1.0, (now - since).total_seconds() / 60)
    return {"finished_since": since, "finished": finished, "per_minute": round(finished / minutes, 2)}


def status() -> SystemStatus:
    settings = get_settings()
    now = utcnow()
    disk = shutil.disk_usage(settings.data_dir)
    return SystemStatus(
        version=__version__,
        started_at=STARTED_AT,
        uptime_seconds=round((now - STARTED_AT).total_seconds(), 1),
        executor=(
            f"celery ({settings.resolved_broker_url.split('://')[0]} broker)"
            if settings.distributed
            else f"{settings.executor} ({settings.worker_slots} slots)"
        ),
        database=_database(),
        event_bus={
            "kind": "redis pub/sub" if settings.distributed else "in-process",
            "status": health_service.checks().get("event_bus", "ok"),
            "websocket_clients": hub.client_count,
        },
        storage={
            **catalog_storage.storage_summary(),
            "data_dir": str(settings.data_dir),
            "disk_total_bytes": disk.total,
            "disk_free_bytes": disk.free,
        },
        process=_process(),
        http=instruments.requests_window.rates(),
        jobs=_jobs(),
    )
