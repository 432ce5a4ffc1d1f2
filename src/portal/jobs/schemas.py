"""Request and response bodies of the jobs API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from portal.jobs.states import JobState


class JobCreate(BaseModel):
    """`{item_id, version?, inputs}`, or the original portal's `{"report_type": "catalog", "parameters": {...}}`."""

    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(min_length=1, max_length=64)
    version: str | None = Field(default=None, max_length=64, description="omit or 'latest' for the latest")
    inputs: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _legacy_shape(cls, data: Any) -> Any:
        if isinstance(data, dict) and "report_type" in data:
            if data.get("report_type") != "catalog":
                raise ValueError("report_type must be 'catalog' (the only kind of job this portal runs)")
            params = data.get("parameters")
            if not isinstance(params, dict):
                raise ValueError("parameters must be an object with item_id, version and inputs")
            extra = set(data) - {"report_type", "parameters", "user_id"}
            if extra:
                raise ValueError(f"unexpected fields: {', '.join(sorted(extra))}")
            return {k: params[k] for k in ("item_id", "version", "inputs") if k in params}
        return data


class JobOut(BaseModel):
    """A job as listed and as streamed in `job.updated` events."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    item_id: str
    item_version: str
    source_path: str | None = Field(
        default=None, description="set when a development version ran straight from this folder"
    )
    state: JobState
    progress: int
    message: str
    created_by: int | None
    created_by_name: str
    created_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    attempt: int
    retry_of: int | None
    cancel_requested: bool
    worker: str | None
    cpu_ms: int | None = Field(default=None, description="CPU time of the run's processes (ms); null: not measured")
    max_rss_kb: int | None = Field(default=None, description="peak memory of the run's largest process (KiB)")
    error_type: str | None = None
    rev: int
    queue: str = "default"
    priority: int = 0
    retried_as: int | None = Field(
        default=None, description="the newest job that retried this one (in lists and the detail; null in events)"
    )


class JobCreated(JobOut):
    job_id: int = Field(description="the same as id, for clients of the original portal")


class JobEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    kind: str
    from_state: str | None
    to_state: str | None
    progress: int | None
    message: str
    actor: str | None


class ApprovalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    username: str
    decision: str = Field(description="approved or rejected")
    comment: str
    at: datetime


class ApprovalInfo(BaseModel):
    approvers: dict[str, Any] = Field(description='{"role": "operator"} or {"users": ["alice", "bob"]}')
    count: int = Field(description="approvals needed")
    timeout: int = Field(description="seconds the job may wait")
    deadline: datetime | None
    decisions: list[ApprovalOut]


class JobDetail(JobOut):
    bundle_sha256: str
    inputs: dict[str, Any] = Field(description='sensitive inputs (writeOnly or format: password) read "***"')
    masked_inputs: list[str] = Field(default_factory=list, description="inputs a retry must give again")
    result: Any | None
    error: dict[str, Any] | None
    timeout_seconds: int
    events: list[JobEventOut] = Field(
        description="the newest 100 events of the timeline, oldest first; the others: GET /api/jobs/{id}/events"
    )
    events_total: int = Field(description="events in the whole timeline")
    retries: list[int] = Field(description="ids of the jobs that retried this one")
    approval: ApprovalInfo | None = None
    secrets: list[str] = Field(default_factory=list, description="names of the secrets the job receives")
    pruned_at: datetime | None = Field(
        default=None, description="when the retention removed its logs, progress reports and result (its summary stays)"
    )


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: dict[str, Any] | None = Field(default=None, description="edited inputs (validated); omit to reuse")


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=2000)


class BulkFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: list[JobState] | None = None
    item_id: str | None = Field(default=None, max_length=64)
    q: str | None = Field(default=None, max_length=200)


class BulkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["retry", "cancel", "run"]
    ids: list[int] | None = Field(default=None, description="the jobs to act on")
    filter: BulkFilter | None = Field(default=None, description="or every job this filter selects")

    @model_validator(mode="after")
    def _one_of(self) -> BulkRequest:
        if (self.ids is None) == (self.filter is None):
            raise ValueError("give either ids or filter")
        return self


class BulkResult(BaseModel):
    id: int
    ok: bool
    state: str | None = Field(default=None, description="the job's state after the action, or why it was refused")
    new_job_id: int | None = None
    error: str | None = None
    message: str | None = None


class BulkResponse(BaseModel):
    action: str
    results: list[BulkResult]
    succeeded: int
    failed: int


class JobPage(BaseModel):
    items: list[JobOut]
    total: int
    page: int
    page_size: int


class LogLine(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    stream: str
    line: str


class EventPage(BaseModel):
    items: list[JobEventOut]
    next_after: int | None = Field(description="pass as `after` for the next page; null on the last page")


class LogPage(BaseModel):
    items: list[LogLine]
    next_after: int | None


# --- the executor's contract (plain values: they cross into the worker's threads) ---------------------------

# A run of a job: the worker that claimed it and the time it did (a worker may claim the same job twice).
RunKey = tuple[str, datetime]


@dataclass(frozen=True)
class ClaimedJob:
    """What the executor needs to run a job it claimed."""

    id: int
    kind: str
    item_id: str
    item_version: str
    bundle_sha256: str
    source_path: str | None
    entrypoint: str
    inputs: dict[str, Any]
    timeout_seconds: int
    resources: dict[str, Any]
    created_by: int | None
    created_by_name: str
    sealed_inputs: str | None = None
    secrets: tuple[str, ...] = ()
    worker: str = ""
    started_at: datetime | None = None

    @property
    def run(self) -> RunKey:
        """This run of the job: the worker that claimed it, and when."""
        assert self.started_at is not None
        return (self.worker, self.started_at)


@dataclass
class RunResult:
    """How a run ended: exactly one of result (succeeded), error (failed) or cancelled is meaningful. The runner
    fills it as the run goes (with what the run used); the executor reports it to `runs.finish`."""

    succeeded: bool = False
    result: Any = None
    error: dict[str, Any] | None = None
    cancelled: bool = False
    exit_status: int | None = None
    cpu_seconds: float | None = None  # of the job's first process and the children it waited for
    max_rss_bytes: int | None = None


def is_rejection(error: dict[str, Any] | None) -> bool:
    """Whether a run's error is the item's `validate` refusing the inputs (the child marks it): REJECTED. A task's
    own exception that happens to be called `Rejected` is a failure like any other."""
    return isinstance(error, dict) and error.get("rejected") is True


@dataclass(frozen=True)
class Precheck:
    """Launch-time validation: the item's `validate(inputs)` run in the job sandbox before a job is created."""

    item_id: str
    bundle_sha256: str
    source_path: str | None
    entrypoint: str
    inputs: dict[str, Any]  # sensitive ones included: they are never stored
    resources: dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    """What launch-time validation concluded: "accepted" (or the item has no `validate`), "rejected" (with the
    field it named, if any) or "unchecked" (it could not run: busy, timed out, failed; the job validates in its
    run, and a refusal then ends it as REJECTED)."""

    outcome: Literal["accepted", "rejected", "unchecked"]
    message: str = ""
    field: str | None = None
