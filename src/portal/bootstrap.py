"""Start and stop a portal process: database, migrations, first admin, example catalog, event bus, executor, and
the duty runner with the process's periodic duties.

The process-wide objects, each installed here at start-up and put back by `reset_process`:
- the settings (`settings.use_settings`, read from PORTAL_ environment variables otherwise);
- the database engine (`db.session.configure`);
- the executor that runs or sends jobs (`jobs.executors.set_current`) and the kinds of job it runs
  (`jobs.kinds.register`);
- the event bus (`events.bus.set_bus`) and the realtime hub that listens to it;
- caches and counters: verified credentials, rate limits, login throttles, bundle stores.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from portal import fs
from portal.admin import analytics_usage
from portal.audit import retention as audit_retention
from portal.auth import credentials, login_throttle
from portal.auth import service as auth_service
from portal.catalog import administration as catalog_administration
from portal.catalog import examples as catalog_examples
from portal.catalog import storage as catalog_storage
from portal.db import migrate
from portal.db import session as db
from portal.duties import DutyRunner
from portal.events import bus
from portal.events.signing import Signer
from portal.execution.local import LocalExecutor
from portal.identity.principal import SYSTEM
from portal.jobs import control, executors, imports, item_tests, kinds
from portal.jobs import retention as job_retention
from portal.ratelimit import limiter
from portal.realtime.hub import hub
from portal.schedules import service as schedules_service
from portal.schedules.scheduler import SchedulerDuty
from portal.settings import EXAMPLES_DIR, Settings, forget_settings, use_settings
from portal.sources import refresh as sources_refresh
from portal.sources import runner as sources_runner
from portal.sources import service as sources_service
from portal.sources import status as sources_status
from portal.sources import webhook as sources_webhook

log = logging.getLogger(__name__)


@dataclass
class PortalState:
    settings: Settings
    executor: executors.Executor
    initial_password: str | None
    lock_fd: int | None = None
    duties: DutyRunner = field(default_factory=DutyRunner)
    forget_schedule_changes: Callable[[], None] | None = None


PURGE_EVERY_SECONDS = 3600.0
RETENTION_EVERY_SECONDS = 60.0
STATISTICS_EVERY_SECONDS = 6 * 3600.0
RETENTION_BATCHES_PER_RUN = 50  # of 200 jobs: a million old jobs go in under two hours


def prepare(settings: Settings) -> str | None:
    """Database, migrations, the first admin and the example catalog; returns the new admin's password, if any.

    API nodes starting together on one PostgreSQL database take turns (an advisory lock), so the migrations,
    the first admin and the example catalog are made once.
    """
    use_settings(settings)
    db.configure(settings)
    with db.exclusive("prepare"):
        return _prepare_data(settings)


def _prepare_data(settings: Settings) -> str | None:
    migrate.upgrade()
    password = auth_service.ensure_initial_admin(settings.data_dir)
    if password:
        print(
            f"Created the first user: admin / {password}\n"
            f"(the password is also in {settings.data_dir / auth_service.INITIAL_PASSWORD_FILE})",
            flush=True,
        )
    if settings.resolved_bundle_store == "database" and any(settings.bundles_dir.glob("??/*.tar.gz")):
        # Switched from files to the database: the bundles of this data directory become readable by every node.
        report = catalog_storage.push_bundles()
        if report.uploaded or report.missing:
            log.warning(
                "bundle store: %d bundle file(s) copied into the database, %d missing from both",
                len(report.uploaded),
                len(report.missing),
            )
    if settings.catalog_load_examples and (EXAMPLES_DIR / "items").is_dir():
        catalog_examples.load(SYSTEM, EXAMPLES_DIR)
    if settings.sources_file is not None:
        sources_service.seed_from_file(settings.sources_file)
    # The first reconciliation of the sources (`/readyz` waits for it): each source of the document has its status.
    sources_status.reconcile(sources_service.current_content().get("sources", []))
    return password


def connect_domains() -> None:
    """What a lower domain asks of a higher one, connected here: who carries out each kind of job other than a
    task (the executor asks), what may hold a catalog version back from becoming active (its tests: the
    catalog asks the jobs domain), and which catalog source takes a repository's webhook (the webhook asks)."""
    kinds.register(kinds.CATALOG_IMPORT, imports.run_import)
    kinds.register(kinds.SOURCE_REFRESH, sources_runner.run_refresh)
    if sources_webhook.push not in imports.source_webhooks:
        imports.source_webhooks.append(sources_webhook.push)
    if item_tests.activation_gate not in catalog_administration.activation_gates:
        catalog_administration.activation_gates.append(item_tests.activation_gate)


def start(settings: Settings, run_executor: bool = True) -> PortalState:
    """Embedded: this process runs the jobs (one per data directory). Distributed: it hands them to Celery and
    hears every node's events on Redis. Either way its periodic duties run in one duty runner."""
    lock_fd = fs.lock_data_dir(settings.data_dir) if run_executor and not settings.distributed else None
    password = prepare(settings)
    connect_domains()
    event_bus: bus.EventBus
    executor: executors.Executor
    if settings.distributed:
        from portal.execution.celery_config import events_channel
        from portal.execution.distributed import CeleryExecutor

        event_bus = bus.RedisEventBus(settings.redis_url, events_channel(settings), Signer(settings.secrets_key))
        executor = CeleryExecutor(settings) if run_executor else executors.NullExecutor()
    else:
        event_bus = bus.LocalEventBus()
        executor = LocalExecutor(settings) if run_executor else executors.NullExecutor()
    bus.set_bus(event_bus)
    event_bus.subscribe(credentials.follow_credential_changes, lambda kind: kind == bus.AUTH_CHANGED)
    hub.attach(event_bus)
    executor.start()
    executors.set_current(executor)
    state = PortalState(
        settings=settings, executor=executor, initial_password=password, lock_fd=lock_fd, duties=DutyRunner()
    )
    _fill_duties(state, event_bus, run_executor)
    state.duties.start()
    return state


def _fill_duties(state: PortalState, event_bus: bus.EventBus, run_executor: bool) -> None:
    """The process's periodic duties, per mode: the executor's (heartbeat, reaping, cancel flags, wake-ups; the
    recovery sweep and resends in the distributed mode), the events waiting for a bus that was away, and, in a
    process that runs or sends jobs, expiring approvals, the scheduler and the sources' poll."""
    settings, duties = state.settings, state.duties
    for name, every, duty in state.executor.duties():
        duties.add(name, every, duty)
    if settings.distributed:
        duties.add("events", 1.0, event_bus.flush)
    if not run_executor:
        return
    duties.add("approvals", settings.approval_check_seconds, _expire_approvals, first_after=1.0)
    duties.add("catalog-purge", PURGE_EVERY_SECONDS, _purge_archived, first_after=60.0)
    duties.add("retention", RETENTION_EVERY_SECONDS, _HistoryPruner(), first_after=120.0)
    duties.add("statistics", STATISTICS_EVERY_SECONDS, db.refresh_statistics, first_after=30.0)
    duties.add("sources-poll", settings.sources_poll_check_seconds, sources_refresh.poll, first_after=1.0)
    if settings.scheduler:
        duties.add("scheduler", settings.scheduler_poll_seconds, SchedulerDuty(settings.scheduler_keep_runs_days))
        state.forget_schedule_changes = schedules_service.on_change(lambda: duties.wake("scheduler"))


def _expire_approvals() -> None:
    control.expire_approvals()


def _purge_archived() -> None:
    purged = catalog_administration.purge_archived()
    if purged:
        log.info("purged %d archived catalog version(s) past their retention: %s", len(purged), purged)


class _HistoryPruner:
    """The retention duty: a bounded share per run (the duty thread also ticks the scheduler and expires
    approvals), each run resuming where the last stopped; one node at a time on PostgreSQL."""

    def __init__(self) -> None:
        self.after = 0

    def __call__(self) -> None:
        with db.exclusive("retention"):
            report = job_retention.prune(max_batches=RETENTION_BATCHES_PER_RUN, pause=0.05, after=self.after)
            audit_deleted = audit_retention.prune(max_batches=RETENTION_BATCHES_PER_RUN)
        self.after = report.resume_after
        if report.deleted or report.trimmed or audit_deleted:
            log.info(
                "retention: %d job(s) deleted, %d trimmed, %d audit entries deleted",
                report.deleted,
                report.trimmed,
                audit_deleted,
            )


def stop(state: PortalState) -> None:
    state.duties.stop()  # first: no new jobs from schedules while the executor stops
    if state.forget_schedule_changes is not None:
        state.forget_schedule_changes()
    state.executor.shutdown()
    executors.set_current(executors.NullExecutor())
    hub.detach()
    bus.close()
    db.dispose()
    if state.lock_fd is not None:
        os.close(state.lock_fd)


def reset_process() -> None:
    """Put every process-wide object back as a new process has it: for tests that run portals in-process one
    after another (a started portal is stopped with `stop` first)."""
    executors.set_current(executors.NullExecutor())
    kinds.forget_all()
    catalog_administration.activation_gates.clear()
    imports.source_webhooks.clear()
    hub.detach()
    bus.close()
    db.dispose()
    credentials.forget_verified()
    limiter.reset()
    login_throttle.addresses.reset()
    catalog_storage.forget_stores()
    analytics_usage.closed_days.clear()
    sources_status.forget_reconciled()
    forget_settings()
