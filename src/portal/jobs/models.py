"""Tables of jobs, their timeline events and their log lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.base import Base, utcnow


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_state_id", "state", "id"),
        Index("ix_jobs_item_id_id", "item_id", "id"),
        Index("ix_jobs_state_item_id_id", "state", "item_id", "id"),
        Index("ix_jobs_created_by_id", "created_by", "id"),
        Index("ix_jobs_created_by_state_id", "created_by", "state", "id"),
        Index("ix_jobs_retry_of", "retry_of"),
        Index("ix_jobs_state_queued_at", "state", "queued_at"),
        Index("ix_jobs_updated_at_id", "updated_at", "id"),
        Index("ix_jobs_bundle_sha256_id", "bundle_sha256", "id"),
        Index("ix_jobs_progress_id", "progress", "id"),
        # The error analysis reads the failures of a period from this index alone (it covers what it groups by).
        Index(
            "ix_jobs_failures",
            "finished_at",
            "kind",
            "item_id",
            "error_type",
            "error_key",
            "id",
            sqlite_where=text("state = 'FAILED'"),
            postgresql_where=text("state = 'FAILED'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="catalog_execution")
    item_id: Mapped[str] = mapped_column(String(64))
    item_version: Mapped[str] = mapped_column(String(64))
    bundle_sha256: Mapped[str] = mapped_column(String(64))
    entrypoint: Mapped[str] = mapped_column(String(200))
    # Set for runs of development versions: the folder the task ran from instead of its bundle.
    source_path: Mapped[str | None] = mapped_column(Text, default=None)
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(20))
    priority: Mapped[int] = mapped_column(default=0)
    queue: Mapped[str] = mapped_column(String(64), default="default")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_by_name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    progress: Mapped[int] = mapped_column(default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[Any | None] = mapped_column(type_=Base.type_annotation_map[dict[str, Any]], default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    attempt: Mapped[int] = mapped_column(default=1)
    retry_of: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), default=None)
    worker: Mapped[str | None] = mapped_column(String(200), default=None)
    timeout_seconds: Mapped[int] = mapped_column()
    resources: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    rev: Mapped[int] = mapped_column(default=1)
    # The item's approval policy when the job was created ({approvers, count, timeout}), if it needs one.
    approval: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # When the retention removed its logs, progress and result (the job itself is kept longer).
    pruned_at: Mapped[datetime | None] = mapped_column(default=None)
    # What the run's processes used (the job's first process and the children it waited for), from the zygote's
    # wait4(); None when it never ran in the sandbox. Failures also keep their error's type and a grouping key
    # (the message with its numbers masked) as columns: the error analysis groups by them.
    cpu_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    max_rss_kb: Mapped[int | None] = mapped_column(BigInteger, default=None)
    error_type: Mapped[str | None] = mapped_column(String(100), default=None)
    error_key: Mapped[str | None] = mapped_column(String(200), default=None)
    approval_deadline: Mapped[datetime | None] = mapped_column(default=None)
    # The inputs marked writeOnly or format: password, encrypted; `inputs` holds "***" in their place.
    # Wiped when the job finishes, so nothing sensitive stays at rest longer than the run.
    sealed_inputs: Mapped[str | None] = mapped_column(Text, default=None)
    # Names of the secrets the item declares: given to the child as environment variables when it runs.
    secrets: Mapped[list[Any]] = mapped_column(default=list)


class ItemTestCase(Base):
    """One case of a version's tests in one test run: the job that ran it and what it should have done."""

    __tablename__ = "item_test_cases"
    __table_args__ = (
        Index("ix_item_test_cases_version", "item_id", "version", "run", "id"),
        Index("ix_item_test_cases_job_id", "job_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    run: Mapped[int] = mapped_column()  # the test run (the first case's job id): the latest run decides
    name: Mapped[str] = mapped_column(String(200))
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"))
    expect: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobEvent(Base):
    """One step of a job's timeline: a state transition or a progress report."""

    __tablename__ = "job_events"
    __table_args__ = (Index("ix_job_events_job_id_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))
    from_state: Mapped[str | None] = mapped_column(String(20), default=None)
    to_state: Mapped[str | None] = mapped_column(String(20), default=None)
    progress: Mapped[int | None] = mapped_column(default=None)
    message: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str | None] = mapped_column(String(64), default=None)


class JobLog(Base):
    """One line a task printed (stdout/stderr) or logged."""

    __tablename__ = "job_logs"
    __table_args__ = (Index("ix_job_logs_job_id_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    stream: Mapped[str] = mapped_column(String(8))
    line: Mapped[str] = mapped_column(Text)


class JobApproval(Base):
    """One approver's decision on a job that waits for approval."""

    __tablename__ = "job_approvals"
    __table_args__ = (UniqueConstraint("job_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(default=None)
    username: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class JobOwnerCount(Base):
    """How many jobs each user has in each state, per item: the exact `total` of a jobs list (filters by state,
    item, owner and search over items and users) without counting the jobs table. Kept like `job_counts`;
    `created_by` 0 stands for jobs without an owner."""

    __tablename__ = "job_owner_counts"

    created_by: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(20), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class JobCount(Base):
    """How many jobs are in each state, per queue and item, kept in the transaction of every state change."""

    __tablename__ = "job_counts"

    state: Mapped[str] = mapped_column(String(20), primary_key=True)
    queue: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class JobHourly(Base):
    """Per hour and item: jobs created and finished, and the durations of the finished ones (for charts)."""

    __tablename__ = "job_hourly"
    __table_args__ = (Index("ix_job_hourly_item_hour", "item_id", "hour"),)  # an item's recent runs

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created: Mapped[int] = mapped_column(BigInteger, default=0)
    succeeded: Mapped[int] = mapped_column(BigInteger, default=0)
    failed: Mapped[int] = mapped_column(BigInteger, default=0)
    cancelled: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_ms_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_ms_max: Mapped[int] = mapped_column(BigInteger, default=0)
    timed: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageChange(Base):
    """A change of the usage of closed blocks (`usage.CLOSED_AFTER`: the retention removing runs, a recount): the
    days `[first_day, end_day)` it touched. The analytics keep what they read of closed days until a change
    touches them; the newest 1,000 are kept."""

    __tablename__ = "usage_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_day: Mapped[datetime] = mapped_column()
    end_day: Mapped[datetime] = mapped_column()


class JobUsage(Base):
    """Per block of `span` days from `day` (1, 4, 16 and 64 days, aligned on 1970-01-01), item and version: finished
    runs, their outcomes and durations, CPU time and peak memory. Every run counts in one block of each span, so a
    period reads a few coarse blocks in its middle and fine ones only at its edges. The counts are 32-bit (2
    billion runs of one version in 64 days is 380 a second): PostgreSQL sums those into a bigint, but a bigint's
    sum into a numeric, at twice the time."""

    __tablename__ = "job_usage"
    # On SQLite the rows are stored in key order (no rowid): a period's blocks are a few ranges of the table.
    __table_args__ = (Index("ix_job_usage_item", "item_id", "span", "day"), {"sqlite_with_rowid": False})

    span: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    day: Mapped[datetime] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    timed: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    cpu_ms_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    max_rss_kb: Mapped[int] = mapped_column(BigInteger, default=0)


BUCKETS_PER_ROW = 16


class JobUsageBucket(Base):
    """Per block (as `JobUsage`), item and version: how many runs took a time in each bucket of a log histogram
    (percentiles), 16 buckets a row (`n0`..`n15` count buckets `16 * part` to `16 * part + 15`): a histogram is
    three or four rows rather than forty."""

    __tablename__ = "job_usage_buckets"
    # Read only for chosen items (one, or the busiest): keyed by item first, stored in key order on SQLite.
    __table_args__ = (
        PrimaryKeyConstraint("item_id", "span", "day", "version", "part"),
        {"sqlite_with_rowid": False},
    )

    span: Mapped[int] = mapped_column(SmallInteger, autoincrement=False)
    day: Mapped[datetime] = mapped_column()
    item_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    part: Mapped[int] = mapped_column(SmallInteger, autoincrement=False)
    n0: Mapped[int] = mapped_column(Integer, default=0)
    n1: Mapped[int] = mapped_column(Integer, default=0)
    n2: Mapped[int] = mapped_column(Integer, default=0)
    n3: Mapped[int] = mapped_column(Integer, default=0)
    n4: Mapped[int] = mapped_column(Integer, default=0)
    n5: Mapped[int] = mapped_column(Integer, default=0)
    n6: Mapped[int] = mapped_column(Integer, default=0)
    n7: Mapped[int] = mapped_column(Integer, default=0)
    n8: Mapped[int] = mapped_column(Integer, default=0)
    n9: Mapped[int] = mapped_column(Integer, default=0)
    n10: Mapped[int] = mapped_column(Integer, default=0)
    n11: Mapped[int] = mapped_column(Integer, default=0)
    n12: Mapped[int] = mapped_column(Integer, default=0)
    n13: Mapped[int] = mapped_column(Integer, default=0)
    n14: Mapped[int] = mapped_column(Integer, default=0)
    n15: Mapped[int] = mapped_column(Integer, default=0)


# The executor claims the highest priority, then oldest, queued job: a partial index keeps that lookup small.
Index(
    "ix_jobs_claim",
    Job.__table__.c.priority.desc(),
    Job.__table__.c.id,
    sqlite_where=text("state = 'QUEUED'"),
    postgresql_where=text("state = 'QUEUED'"),
)

# The jobs that are not runs of an item (imports, tests, dry runs) are few: the jobs list counts them by kind
# from this index rather than from every job (the job counters do not count by kind).
Index(
    "ix_jobs_other_kinds",
    Job.__table__.c.kind,
    Job.__table__.c.id,
    sqlite_where=text("kind <> 'catalog_execution'"),
    postgresql_where=text("kind <> 'catalog_execution'"),
)
