"""Schedules and the ticks they fired (one row per tick: the guard that makes a tick run at most once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.base import Base, utcnow


class Schedule(Base):
    __tablename__ = "schedules"
    # Ids are never reused (the audit log names schedules by id, and they can be deleted).
    __table_args__ = (
        Index("ix_schedules_enabled_next_run_at", "enabled", "next_run_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    item_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))  # a version, or "latest" (resolved at each run)
    # Inputs as a job stores them: sensitive values (writeOnly, format: password) are "***" here and encrypted
    # in `sealed_inputs`, which, unlike a job's, lives as long as the schedule.
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sealed_inputs: Mapped[str | None] = mapped_column(Text, default=None)
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(default=True)
    # The next tick (UTC). Advanced by the scheduler with a conditional update, in the transaction that creates
    # the tick's job. Null while disabled.
    next_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_job_id: Mapped[int | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    last_error_at: Mapped[datetime | None] = mapped_column(default=None)
    # Jobs run as this user: the admin who last created, changed or enabled the schedule.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    owner_name: Mapped[str] = mapped_column(String(64))
    created_by_name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScheduleRun(Base):
    """One tick of a schedule that fired: the job it created, or why it could not."""

    __tablename__ = "schedule_runs"
    __table_args__ = (
        UniqueConstraint("schedule_id", "due_at"),
        Index("ix_schedule_runs_schedule_id_id", "schedule_id", "id"),
        Index("ix_schedule_runs_job_id", "job_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    due_at: Mapped[datetime] = mapped_column()
    at: Mapped[datetime] = mapped_column(default=utcnow)
    job_id: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
