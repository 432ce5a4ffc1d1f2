"""The revisions of the sources document: each save is a new row; the newest is the current document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.base import Base, utcnow


class SourcesRevision(Base):
    """One saved sources document. The id is the revision number, given by the saver as the current one + 1:
    two saves from the same current revision cannot both commit (the second breaks the primary key)."""

    __tablename__ = "sources_revisions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    content: Mapped[dict[str, Any]] = mapped_column()
    content_hash: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SourceRefreshStatus(Base):
    """How the last refresh of a source went, kept per source id (it outlives the source: what it imported still
    names it). Whether a refresh runs now is read from the jobs (an active `source_refresh` job newer than
    `job_id`), so a refresh that never ended (its worker lost) does not leave the source "refreshing" for ever."""

    __tablename__ = "sources_status"

    source_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="available")
    last_refresh_time: Mapped[datetime | None] = mapped_column(default=None)
    last_refresh_status: Mapped[str | None] = mapped_column(String(16), default=None)
    summary: Mapped[str] = mapped_column(Text, default="")
    versions_imported: Mapped[int] = mapped_column(default=0)
    versions_unchanged: Mapped[int] = mapped_column(default=0)
    versions_failed: Mapped[int] = mapped_column(default=0)
    versions_missing: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[int | None] = mapped_column(default=None)
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    job_id: Mapped[int | None] = mapped_column(default=None)
    requested_at: Mapped[datetime | None] = mapped_column(default=None)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)  # first in a document: its poll interval counts from it
