"""The revisions of the sources document: each save is a new row; the newest is the current document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text
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
