"""Settings from `PORTAL_` environment variables (pydantic-settings)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples" / "catalog"


class Settings(BaseSettings):
    """Every knob of the portal. Groups are marked by their name prefix (job_, catalog_, auth_, ...)."""

    model_config = SettingsConfigDict(env_prefix="PORTAL_", env_file=None, extra="ignore")

    # Storage
    data_dir: Path = Path("./data")
    database_url: str = ""
    database_pool_size: int = Field(default=10, ge=1, le=500, description="connections each process keeps open")
    database_max_overflow: int = Field(default=20, ge=0, le=500, description="extra connections under load")

    # Server
    dev: bool = False
    max_body_bytes: int = 1_048_576
    server_threads: int = Field(default=8, ge=1, le=256)
    cors_origins: Annotated[list[str], NoDecode] = []
    log_level: str = "INFO"

    # Execution: "local" runs jobs in the `portal serve` process (embedded); "celery" hands them to `portal worker`
    # processes through a broker (distributed; needs PostgreSQL and Redis).
    executor: Literal["local", "celery"] = "local"
    worker_slots: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=0)
    worker_heartbeat_seconds: float = 5.0
    worker_lost_after_seconds: float = 30.0
    job_timeout_seconds: int = 3600
    job_memory_mb: int = 1024
    job_cpu_seconds: int = 3600
    job_file_size_mb: int = 256
    job_open_files: int = 256
    job_log_max_lines: int = 2000
    job_log_max_line_chars: int = 4000
    job_progress_per_second: float = 10.0
    job_progress_event_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="a job's timeline keeps one progress event per this many seconds"
    )
    job_progress_events: int = Field(
        default=200, ge=2, le=100_000, description="progress events a job's timeline keeps at most (sampled)"
    )
    job_result_max_bytes: int = 1_048_576
    # Launch-time validation: an item's `validate(inputs)` runs in the sandbox before its job is created.
    job_validate_seconds: float = Field(
        default=5.0, gt=0, le=60, description="wall-clock limit of launch-time validation (then the job validates)"
    )
    job_validate_concurrency: int = Field(
        default=4, ge=0, le=64, description="launch-time validations at once per process (0: none, jobs validate)"
    )
    # Job containment (docs/architecture.md, "The sandbox promises"): "auto" runs with every protection this
    # machine offers and says which are missing; "required" refuses to run jobs without all of them; "off" is for
    # measurements and debugging only.
    job_isolation: Literal["auto", "required", "off"] = "auto"
    job_uids: str = Field(
        default="200000-201023",
        pattern=r"^\d+-\d+$",
        description="uids (and gids) jobs run as when the portal is root, one per running job: FIRST-LAST",
    )
    job_max_processes: int = Field(default=64, ge=1, le=100_000, description="processes of one job at a time")
    job_scratch_mb: int = Field(default=256, ge=1, le=1_048_576, description="scratch space of one job (tmpfs)")
    job_blocked_ports: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        description="more TCP ports no job may reach (the API port of other nodes); the database, Redis, broker "
        "and this node's API port are always blocked",
    )

    # Distributed mode
    broker_url: str = Field(default="", description="Celery broker (redis://... or amqp://...); default: redis_url")
    redis_url: str = Field(default="", description="Redis for live events and control messages between nodes")
    redis_namespace: str = Field(
        default="portal", pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="prefix of channels, keys and task ids"
    )
    worker_concurrency: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=512)
    worker_queues: Annotated[list[str], NoDecode] = ["default"]
    worker_prefetch: int = Field(default=1, ge=1, le=100, description="messages a worker thread reserves ahead")
    broker_visibility_timeout: int = Field(
        default=3 * 3600, ge=60, description="seconds before Redis redelivers an unacknowledged job message"
    )
    worker_metrics_port: int = Field(
        default=0, ge=0, le=65535, description="Prometheus port of `portal worker` (job durations, runner failures)"
    )
    worker_metrics_host: str = Field(default="127.0.0.1", description="address the worker's metrics listen on")
    recovery_seconds: float = Field(
        default=10.0, gt=0, description="how often API nodes look for job messages the broker lost"
    )

    # Catalog
    catalog_local_roots: Annotated[list[Path], NoDecode] = Field(default_factory=lambda: [EXAMPLES_DIR])
    catalog_load_examples: bool = True
    catalog_upload_max_bytes: int = 50 * 1024 * 1024
    catalog_import_max_bytes: int = Field(
        default=2 * 1024 * 1024 * 1024, ge=1024, description="largest catalog export an admin may import"
    )
    catalog_max_members: int = 2000
    catalog_max_unpacked_bytes: int = 64 * 1024 * 1024
    # Whether new catalog versions wait for a review by someone other than their importer before they run
    # (an item's own policy overrides it).
    catalog_review: Literal["off", "required"] = "off"
    # Whether a version's tests (tests/*.json) must pass before it becomes active (an item may say otherwise).
    catalog_tests_required: bool = False
    # How long an archived version can be restored before it is purged (the bundles jobs ran are kept).
    catalog_archive_retention_days: int = Field(default=30, ge=1)
    # Storage quotas (0: no limit): the bytes all bundles may take, and one item's (an admin may set an item's own).
    storage_quota_bytes: int = Field(default=0, ge=0, description="bytes all the catalog's bundles may take")
    storage_item_quota_bytes: int = Field(default=0, ge=0, description="bytes one item's bundles may take")
    # Job history retention (0: for ever, as before): finished jobs older than this are deleted, with their
    # timeline and logs; their logs, progress and result may go sooner, the job's summary staying.
    job_retention_days: int = Field(default=0, ge=0, le=36_500, description="days finished jobs are kept (0: for ever)")
    job_log_retention_days: int = Field(
        default=0,
        ge=0,
        le=36_500,
        description="days a finished job keeps its logs, progress and result (0: as long as the job)",
    )
    audit_retention_days: int = Field(
        default=0, ge=0, le=36_500, description="days audit entries are kept (0: for ever)"
    )
    # Where bundles live: "files" (the data directory, one machine), "database" (a table every node reads; see
    # docs/operations.md) or "auto": the database as soon as the portal can span machines, i.e. when the database
    # is not SQLite or the executor is not "local"; files otherwise.
    bundle_store: Literal["auto", "files", "database"] = "auto"
    catalog_bundle_max_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1024, description="largest packed bundle (tar.gz) any store accepts"
    )

    # Git sources
    git_allow_file: bool = False
    git_allow_http: bool = Field(
        default=False,
        description="allow Git over http:// and git:// (not encrypted: anyone on the path can swap the code)",
    )
    git_ssh_known_hosts: str = Field(
        default="", description="the known_hosts file Git over ssh trusts (default: ssh_known_hosts in the data dir)"
    )
    git_timeout_seconds: int = Field(default=120, ge=5, le=3600)
    git_webhook_secret: str = ""
    git_webhook_repos: Annotated[list[str], NoDecode] = []
    # Catalog sources (portal.sources): a document to seed the first revision from, and whether credentials
    # written inline are refused (otherwise a warning).
    sources_file: Path | None = Field(
        default=None, description="a sources.yaml that seeds the sources document when no revision exists yet"
    )
    sources_strict: bool = Field(
        default=False, description="refuse a sources document with a credential written inline (not just warn)"
    )
    sources_refresh_min_seconds: int = Field(
        default=10, ge=0, le=3600, description="a refresh asked for sooner after the last one ended is a 429"
    )
    sources_poll_min_seconds: int = Field(
        default=60, ge=1, le=86_400, description="the smallest poll_seconds a source may have (tests lower it)"
    )
    sources_poll_check_seconds: float = Field(
        default=5.0, gt=0, le=600, description="how often the poll duty looks for sources whose interval elapsed"
    )

    # Auth
    session_hours: float = 12.0
    session_cookie_secure: bool = Field(
        default=False, description="always mark session cookies Secure (they are whenever a request came over HTTPS)"
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="addresses or networks of reverse proxies whose X-Forwarded-Proto and X-Forwarded-For are believed",
    )
    token_touch_seconds: float = 60.0
    auth_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    password_min_length: int = Field(default=12, ge=8, le=128)
    password_min_score: int = Field(
        default=3, ge=0, le=4, description="how hard to guess a new password must be (zxcvbn's score, 0-4)"
    )
    login_free_failures: int = Field(
        default=5, ge=1, le=1000, description="failed logins of a username before each further one waits longer"
    )
    login_lock_failures: int = Field(
        default=20, ge=2, le=10000, description="failed or refused logins of a username that lock it for a while"
    )
    login_lock_minutes: float = Field(default=15.0, gt=0, le=1440, description="how long a locked username stays so")
    login_address_failures: int = Field(
        default=50, ge=1, le=100000, description="failed logins from one client address before its further ones wait"
    )
    login_checks: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) // 2),
        ge=1,
        le=64,
        description="password checks at once (argon2 is slow on purpose: more would starve other requests)",
    )
    login_queue: int = Field(default=16, ge=0, le=10000, description="logins waiting for a check; more get 429")
    ws_ping_seconds: float = Field(default=25.0, gt=0, description="idle WebSocket ping")
    ws_recheck_seconds: float = Field(
        default=10.0, gt=0, description="how often each WebSocket stream rechecks its credentials, whatever its traffic"
    )

    # Secrets: Fernet keys, comma-separated (the first encrypts, every one decrypts, so keys can be rotated).
    # Empty: a key is generated once into the data directory (fine for one machine; set it in production).
    secrets_key: Annotated[list[str], NoDecode] = []

    # Admin control plane
    admin_bulk_max: int = Field(default=200, ge=1, le=10_000, description="jobs one bulk action may touch")
    job_submit_rate_per_minute: int = Field(
        default=300, ge=1, description="jobs a user may submit (new and retried) per minute on each API node"
    )
    admin_rate_per_minute: int = Field(default=120, ge=1, description="job-control calls per user and minute")
    admin_bulk_rate_per_minute: int = Field(default=10, ge=1, description="bulk calls per user and minute")
    approval_check_seconds: float = Field(default=5.0, gt=0, description="how often expired approvals are checked")
    alert_failure_rate: float = Field(default=0.25, ge=0, le=1)
    alert_failure_min_jobs: int = Field(default=10, ge=1)
    alert_queue_age_minutes: float = Field(default=10.0, gt=0)
    alert_disk_free_percent: float = Field(default=10.0, ge=0, le=100)
    metrics_token: str = ""
    metrics_allow: Annotated[list[str], NoDecode] = ["127.0.0.1/32", "::1/128"]
    log_format: Literal["text", "json"] = "text"

    # Scheduled runs: every portal process runs a scheduler loop unless turned off; ticks are claimed in the
    # database, so any number of them create one job per tick.
    scheduler: bool = Field(default=True, description="run the scheduler loop in this process")
    scheduler_poll_seconds: float = Field(
        default=5.0, gt=0, le=300, description="longest sleep of the loop (changes made elsewhere show by then)"
    )
    scheduler_min_interval_seconds: float = Field(
        default=60.0, ge=1, description="schedules whose runs come closer together than this are refused"
    )
    scheduler_keep_runs_days: int = Field(
        default=90, ge=1, description="how long the record of each tick (its job or its error) is kept"
    )

    # Audit log
    audit_scan_rows: int = Field(
        default=10_000, ge=1, description="index entries one audit page may scan when several filters combine"
    )
    audit_export_max_rows: int = Field(default=1_000_000, ge=1, description="rows one export streams at most")

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Children run in their own scratch directory: every path handed to them must be absolute.
        return value.expanduser().resolve()

    @field_validator("catalog_local_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(part.strip()) for part in value.split(",") if part.strip()]
        return value

    @field_validator("sources_file", mode="before")
    @classmethod
    def _no_sources_file(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("job_uids")
    @classmethod
    def _uid_range(cls, value: str) -> str:
        first, last = (int(part) for part in value.split("-"))
        if not 1000 <= first <= last < 2**31 - 1:
            raise ValueError("PORTAL_JOB_UIDS must be FIRST-LAST with 1000 <= FIRST <= LAST < 2147483647")
        return value

    @field_validator("job_blocked_ports", mode="before")
    @classmethod
    def _split_ports(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "cors_origins",
        "git_webhook_repos",
        "secrets_key",
        "metrics_allow",
        "worker_queues",
        "trusted_proxies",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _distributed_needs_shared_services(self) -> Settings:
        if self.executor == "celery":
            if not self.redis_url:
                raise ValueError("PORTAL_EXECUTOR=celery needs PORTAL_REDIS_URL (live events and control messages)")
            if not self.database_url or self.database_url.startswith("sqlite"):
                raise ValueError(
                    "PORTAL_EXECUTOR=celery needs a database every node reaches: set PORTAL_DATABASE_URL to PostgreSQL"
                )
            if not self.secrets_key:
                raise ValueError(
                    "PORTAL_EXECUTOR=celery needs PORTAL_SECRETS_KEY: every node encrypts secrets and signs the "
                    "messages it sends to the others with it"
                )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The configured database URL, or the SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'portal.db').resolve()}"

    @property
    def distributed(self) -> bool:
        return self.executor == "celery"

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def resolved_bundle_store(self) -> Literal["files", "database"]:
        """The bundle store in use: the setting, with "auto" decided by the database and the executor."""
        if self.bundle_store != "auto":
            return self.bundle_store
        # The configured URL says which database it is (no URL: SQLite); resolving the path would cost every job.
        if self.executor != "local" or (self.database_url and not self.database_url.startswith("sqlite")):
            return "database"
        return "files"

    @property
    def job_uid_range(self) -> tuple[int, int]:
        first, last = (int(part) for part in self.job_uids.split("-"))
        return first, last

    @property
    def bundles_dir(self) -> Path:
        return self.data_dir / "bundles"

    @property
    def bundle_cache_dir(self) -> Path:
        return self.data_dir / "cache" / "bundles"

    @property
    def scratch_dir(self) -> Path:
        return self.data_dir / "scratch"


_current: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings: those installed by `use_settings`, else read once from the environment."""
    global _current
    if _current is None:
        _current = Settings()
    return _current


def forget_settings() -> None:
    """Read the settings from the environment again on the next `get_settings` (a reset for tests)."""
    global _current
    _current = None


def use_settings(settings: Settings) -> None:
    """Make `settings` the process-wide settings (the app factory and tests start a portal with their own)."""
    global _current
    _current = settings
