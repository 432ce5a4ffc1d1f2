"""Secrets and the items each one is granted to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.base import Base, utcnow


class Secret(Base):
    __tablename__ = "secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    ciphertext: Mapped[str] = mapped_column(Text)
    created_by_name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SecretGrant(Base):
    """Secret `secret_id` may be given to jobs of catalog item `item_id` that declare it, for the versions
    matching the semver range `versions` (see portal.secrets.grants)."""

    __tablename__ = "secret_grants"

    secret_id: Mapped[int] = mapped_column(ForeignKey("secrets.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    versions: Mapped[str] = mapped_column(Text)
    # version -> bundle sha256 of the versions that existed when the grant was made or extended: other code
    # under the same version string is not covered.
    pins: Mapped[dict[str, Any]] = mapped_column(default=dict)
