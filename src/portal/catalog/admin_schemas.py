"""Request and response bodies of the catalog administration API (`/api/admin/catalog`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

State = Literal["draft", "in_review", "active", "deprecated", "archived", "rejected"]  # lifecycle.STATES

REASON = Field(default=None, max_length=2000, description="why (kept in the history and the audit log)")


class AdminItemOut(BaseModel):
    """A row of the admin catalog table."""

    id: str
    name: str
    category: str | None
    tags: list[str]
    owner: str | None
    maintainers: list[str]
    featured: bool
    latest_version: str | None
    channels: dict[str, str] = Field(description="channel -> version, `latest` included when there is one")
    states: dict[str, int] = Field(description="how many versions are in each lifecycle state")
    pending_reviews: int
    last_run_at: datetime | None
    runs_30d: int
    success_rate_30d: float | None = Field(description="succeeded / finished runs of the last 30 days")
    updated_at: datetime
    may_manage: bool = Field(description="whether the caller may change this item")


class AdminItemPage(BaseModel):
    items: list[AdminItemOut]
    total: int


class AdminVersionOut(BaseModel):
    version: str
    state: State
    reason: str | None
    sunset_at: datetime | None
    restores_to: State | None = Field(default=None, description="for an archived version: the state a restore gives")
    bundle_sha256: str
    source: dict[str, Any]
    imported_by: str
    imported_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    state_changed_by: str | None
    state_changed_at: datetime | None
    channels: list[str]
    may_review: bool = Field(
        default=False,
        description="whether the caller may approve or reject it: in review, theirs to manage, not imported by them",
    )
    replaces: str | None = Field(
        default=None,
        description="the newest active or deprecated version below it: what its review compares it with (null: none)",
    )
    dependencies: list[dict[str, Any]] = Field(
        default_factory=list, description="what it depends on: {item_id, range, resolved (the highest runnable match)}"
    )


class VersionEventOut(BaseModel):
    version: str
    from_state: str | None
    to_state: str
    reason: str | None
    actor: str
    at: datetime


class ChannelEventOut(BaseModel):
    channel: str
    from_version: str | None
    to_version: str | None
    reason: str | None
    actor: str
    at: datetime


class AdminItemDetail(AdminItemOut):
    description: str
    notice: str | None
    review_policy: Literal["off", "required"] | None = Field(description="the item's own; null follows the default")
    review_required: bool = Field(description="whether new versions of it wait for a review (the effective policy)")
    tests_required: bool = Field(description="whether versions need passing tests to become active (effective)")
    overrides: dict[str, Any]
    storage_bytes: int = Field(description="bytes its versions' bundles take, each bundle once")
    storage_quota_bytes: int | None = Field(description="the item's own quota (null follows the default; 0: no limit)")
    storage_quota_effective: int = Field(description="the quota that applies, in bytes (0: no limit)")
    job_retention_days: int | None = Field(description="days its finished jobs are kept (null: the default)")
    versions: list[AdminVersionOut]
    history: list[VersionEventOut]
    channel_history: list[ChannelEventOut]
    used_by: list[dict[str, Any]] = Field(
        description="runnable versions of other items that depend on this one: {item_id, version, range, satisfied_by}"
    )


class DependencyEdge(BaseModel):
    from_: str = Field(serialization_alias="from", validation_alias="from", description="item@version")
    item_id: str
    version: str
    to: str = Field(description="the item it depends on")
    range: str = Field(description="the semver range it asks for")
    resolved: str | None = Field(description="the highest runnable version of `to` in that range (null: none)")


class DependencyGraph(BaseModel):
    """The catalog's dependency map: items, and an edge per dependency of a runnable version."""

    items: list[str]
    edges: list[DependencyEdge]


class TransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(max_length=20, description="the state to move to")
    reason: str | None = REASON
    sunset_at: AwareDatetime | None = Field(
        default=None, description="for `deprecated`: when it stops running (with its time zone)"
    )
    confirm: list[str] | None = Field(
        default=None,
        max_length=1000,
        description="`item@version` of each version that depends on this one (what the 409 listed), to go on",
    )


class ReviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    reason: str | None = REASON


class ChannelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=64)
    reason: str | None = REASON


class ItemUpdate(BaseModel):
    """Metadata an admin (or the item's maintainer) sets without a new bundle; null clears an override."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    category: str | None = Field(default=None, max_length=100)
    tags: list[str] | None = Field(default=None, max_length=50)
    owner: str | None = Field(default=None, max_length=200)
    featured: bool | None = None
    notice: str | None = Field(default=None, max_length=2000)
    review_policy: Literal["off", "required", "default"] | None = Field(
        default=None, description="admins only; `default` follows PORTAL_CATALOG_REVIEW"
    )
    maintainers: list[str] | None = Field(default=None, max_length=100, description="admins only: usernames")
    tests_required: bool | None = Field(
        default=None, description="admins only: a version's tests must pass before it is active (null: the default)"
    )
    storage_quota_bytes: int | None = Field(
        default=None,
        ge=0,
        le=2**62,
        description="admins only: bytes its bundles may take (0: no limit; null: PORTAL_STORAGE_ITEM_QUOTA_BYTES)",
    )
    job_retention_days: int | None = Field(
        default=None,
        ge=0,
        le=36_500,
        description="admins only: days its finished jobs are kept (0: for ever; null: PORTAL_JOB_RETENTION_DAYS)",
    )


class ReviewOut(BaseModel):
    item_id: str
    item_name: str
    version: str
    imported_by: str
    imported_at: datetime


class PendingReviews(BaseModel):
    to_review: list[ReviewOut] = Field(description="versions in review the caller may approve or reject")
    mine: list[ReviewOut] = Field(description="the caller's own versions waiting for someone else's review")


class SchemaChangeOut(BaseModel):
    path: str = Field(description="where in the inputs: `hosts`, `creds.user`, `hosts[]`, `(root)`, `uiSchema.<key>`")
    kind: str
    breaking: bool
    message: str


class AffectedSchedule(BaseModel):
    id: int
    name: str
    version: str
    errors: list[dict[str, Any]] = Field(description="what the new version refuses in its inputs")


class AffectedJob(BaseModel):
    id: int
    version: str
    created_by: str | None
    errors: list[dict[str, Any]]


class Affected(BaseModel):
    schedules: list[AffectedSchedule]
    jobs: list[AffectedJob] = Field(description="recent jobs whose inputs (run again) the new version refuses")
    jobs_checked: int
    jobs_failing: int = Field(description="how many of the jobs checked fail (at most 100 are listed)")


class SchemaDiffOut(BaseModel):
    changes: list[SchemaChangeOut]
    breaking: bool
    affected: Affected


class ManifestChange(BaseModel):
    key: str
    from_value: Any = Field(serialization_alias="from")
    to_value: Any = Field(serialization_alias="to")


class FileChange(BaseModel):
    path: str
    diff: str | None = Field(description="a unified diff, or null for a binary or large file")
    note: str | None = None


class FileChanges(BaseModel):
    added: list[str]
    added_content: list[FileChange] = Field(description="each added file's content, as a diff from nothing")
    removed: list[str]
    changed: list[FileChange]
    unchanged: int
    note: str | None = Field(default=None, description="set when not every file was compared")


class Needs(BaseModel):
    """What a version asks of the platform beyond its inputs."""

    network: dict[str, Any] | None = Field(description="its declared network access (null: none)")
    network_allowed: bool = Field(description="whether what an admin allowed the item covers it")
    secrets: dict[str, Literal["granted", "not granted", "missing"]] = Field(
        description="each secret it declares: granted to this version, not granted, or missing from the store"
    )
    approval: bool = Field(description="whether its runs wait for an approver")


class NeedsDiff(BaseModel):
    from_needs: Needs | None = Field(serialization_alias="from", description="null when compared with nothing")
    to_needs: Needs = Field(serialization_alias="to")
    new_secrets: list[str] = Field(description="secrets the newer version declares and the older did not")
    network_widened: bool = Field(description="whether the newer version asks for network access the older did not")


class VersionDiff(BaseModel):
    item_id: str
    from_version: str | None = Field(
        serialization_alias="from", description="null: compared with nothing (every file and manifest key is new)"
    )
    to_version: str = Field(serialization_alias="to")
    schema_: SchemaDiffOut = Field(serialization_alias="schema")
    manifest: list[ManifestChange] = Field(description="each manifest key that differs")
    files: FileChanges
    needs: NeedsDiff = Field(description="the network access, secrets and approval each version asks for")


class BulkTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(min_length=1, max_length=64)
    version: str | None = Field(default=None, max_length=64, description="not for `tag` (it applies to the item)")


class CatalogBulkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["deprecate", "archive", "restore", "promote", "tag", "approve"]
    targets: list[BulkTarget] = Field(min_length=1, max_length=500)
    reason: str | None = REASON
    channel: str | None = Field(default=None, max_length=32, description="for `promote`")
    tags: list[str] | None = Field(default=None, max_length=50, description="for `tag`: added to each item")
    confirm: list[str] | None = Field(
        default=None, max_length=5000, description="dependents (`item@version`) the caller confirms, as for one"
    )
    dry_run: bool = Field(default=False, description="say what each row would do, change nothing (the preview)")


class CatalogBulkResult(BaseModel):
    item_id: str
    version: str | None
    ok: bool
    outcome: str = Field(description="what was done (or, in a dry run, what would be), or why not")
    error: str | None = Field(default=None, description="the error code when refused")


class CatalogBulkResponse(BaseModel):
    action: str
    dry_run: bool
    done: int
    refused: int
    results: list[CatalogBulkResult]


class TestCaseOut(BaseModel):
    name: str
    job_id: int
    state: str
    passed: bool | None = Field(description="null while its job has not ended")
    reason: str


class TestResults(BaseModel):
    item_id: str
    version: str
    run: int | None = Field(description="the latest test run (its first job's id); null when none ran")
    passed: bool | None = Field(description="every case passed; null while one runs, or when none ran")
    cases: list[TestCaseOut]


class DryRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: dict[str, Any] = Field(default_factory=dict)
