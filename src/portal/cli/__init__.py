"""The `portal` command: serve, worker, migrate, users, tokens, catalog, openapi."""

from __future__ import annotations

import gc
import json
import os
import sys
import time

import click

from portal.backup.commands import backup, restore
from portal.cli.catalog import catalog
from portal.cli.common import fail, prepare_db
from portal.cli.sources import sources
from portal.errors import PortalError
from portal.identity.principal import SYSTEM
from portal.identity.roles import ROLE_NAMES
from portal.settings import get_settings


@click.group()
def main() -> None:
    """Self-service portal. Settings come from PORTAL_* environment variables."""
    # What the portal writes (its database, bundles, keys) is its own: no other local user may read it.
    os.umask(0o077)
    data_dir = get_settings().data_dir
    if data_dir.is_dir() and data_dir.stat().st_uid == os.geteuid():
        data_dir.chmod(0o700)  # also one made before this rule, with the files in it
        for entry in data_dir.iterdir():
            if entry.is_file() and not entry.is_symlink() and entry.stat().st_uid == os.geteuid():
                entry.chmod(0o600)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--log-level", default="info", show_default=True)
def serve(host: str, port: int, log_level: str) -> None:
    """Run the API, the web UI and the embedded worker pool in one process."""
    import uvicorn

    from portal import logs
    from portal.app import create_app

    # No job may reach this node's API (docs/architecture.md, "The sandbox promises").
    settings = get_settings()
    settings = settings.model_copy(update={"job_blocked_ports": [*settings.job_blocked_ports, port]})
    click.echo(f"Portal starting on http://{host}:{port} (data in {settings.data_dir.resolve()})")
    json_logs = settings.log_format == "json"
    logs.configure(settings.log_format, log_level)
    app = create_app(settings)
    # What importing made lives as long as the process: out of the collector's sight, a full collection walks
    # only what came after (with the whole heap it took 100-150 ms, a stall paid by whichever request set it off).
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=None if json_logs else uvicorn.config.LOGGING_CONFIG,
        access_log=not json_logs,
        ws="websockets-sansio",
        timeout_graceful_shutdown=10,
        # X-Forwarded-Proto and X-Forwarded-For are believed from PORTAL_TRUSTED_PROXIES only.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or "127.0.0.1",
    )


@main.command()
@click.option("--check", is_flag=True, help="exit 0 when a worker of this host beats, 1 otherwise (health probes)")
@click.option("--log-level", default="info", show_default=True)
def worker(check: bool, log_level: str) -> None:
    """Run a worker node of the distributed mode (PORTAL_EXECUTOR=celery): a Celery worker that runs jobs."""
    from portal import bootstrap, logs
    from portal.db import migrate as migrations
    from portal.db import session as db
    from portal.execution import celery_worker

    settings = get_settings()
    if not settings.distributed:
        click.echo("error: `portal worker` is for the distributed mode: set PORTAL_EXECUTOR=celery", err=True)
        sys.exit(2)
    db.configure(settings)
    if check:
        alive, message = celery_worker.check_worker(settings)
        click.echo(message)
        sys.exit(0 if alive else 1)
    logs.configure(settings.log_format, log_level)
    # The API nodes (or `portal migrate`) own the schema: a worker waits for it rather than racing them.
    for _ in range(120):
        current, head = migrations.revisions()
        if current == head:
            break
        click.echo(f"waiting for the database schema ({current} -> {head}); run `portal migrate`", err=True)
        time.sleep(1)
    else:
        click.echo("error: the database schema is not current; run `portal migrate`", err=True)
        sys.exit(1)
    click.echo(
        f"Portal worker: queues {','.join(settings.worker_queues)}, concurrency {settings.worker_concurrency}, "
        f"data in {settings.data_dir}"
    )
    bootstrap.connect_domains()
    celery_worker.WorkerNode(settings).run(log_level)


@main.command()
def doctor() -> None:
    """List each protection jobs run with here, on or off and why; exit 1 when one is off."""
    from portal.execution.host import new_runner
    from portal.execution.policy import IsolationUnavailable

    settings = get_settings()
    runner = new_runner(settings)
    try:
        try:
            protections = runner.start()
        except IsolationUnavailable:
            protections = runner.isolation.protections
        for protection in protections:
            click.echo(f"{'on ' if protection.on else 'OFF'}  {protection.name:<17} {protection.detail}")
    finally:
        runner.stop()
    missing = [p.name for p in protections if not p.on]
    click.echo(
        f"job isolation ({settings.job_isolation}): "
        + (f"missing {', '.join(missing)}" if missing else f"all {len(protections)} protections on")
    )
    sys.exit(1 if missing else 0)


@main.command()
def migrate() -> None:
    """Bring the database schema to the newest revision."""
    prepare_db()
    click.echo("database is up to date")


main.add_command(backup)
main.add_command(catalog)
main.add_command(restore)
main.add_command(sources)


@main.group()
def admin() -> None:
    """Maintenance of a portal's data."""


@admin.command("recount")
def admin_recount() -> None:
    """Recompute the job counters, hourly rollups and usage blocks from the jobs (after writing jobs behind the
    portal's back)."""
    from portal.db import session as db
    from portal.jobs import counters, usage

    prepare_db()
    with db.write() as s:
        counters.rebuild(s.connection())
        usage.rebuild(s.connection())
        usage.record_change(s.connection(), *usage.ALL_DAYS)  # what the analytics kept of closed days is stale
    click.echo("job counters, rollups and usage rebuilt")


@admin.command("prune")
@click.option(
    "--pause", default=0.1, show_default=True, help="seconds between two batches (room for the portal's writers)"
)
def admin_prune(pause: float) -> None:
    """Prune the job history and the audit log past their retention now, until nothing is left (each `portal serve`
    does this a little every minute): PORTAL_JOB_RETENTION_DAYS, PORTAL_JOB_LOG_RETENTION_DAYS,
    PORTAL_AUDIT_RETENTION_DAYS."""
    from portal.audit import retention as audit_retention
    from portal.jobs import retention as job_retention

    prepare_db()
    report = job_retention.prune(pause=pause)
    audit_deleted = audit_retention.prune()
    click.echo(
        f"{report.deleted} job(s) deleted, {report.trimmed} trimmed to their summary, "
        f"{audit_deleted} audit entries deleted ({report.batches} batches)"
    )


@main.group()
def users() -> None:
    """Manage users."""


@users.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLE_NAMES), default="requester", show_default=True)
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def users_create(username: str, role: str, password_stdin: bool) -> None:
    """Create a user; the password comes from stdin, or is generated and printed once."""
    from portal.auth import service

    prepare_db()
    password = None
    if password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n") or None
    try:
        view, generated = service.create_user(SYSTEM, username, role, password)
    except PortalError as exc:
        fail(exc)
        return
    click.echo(f"created {view.username} ({view.role})")
    if generated:
        click.echo(f"password: {generated}")


@users.command("list")
def users_list() -> None:
    """List users."""
    from portal.auth import service

    prepare_db()
    for user in service.list_users():
        click.echo(f"{user.username}\t{user.role}\t{'disabled' if user.disabled else 'active'}")


@main.group()
def tokens() -> None:
    """Manage API tokens."""


@tokens.command("create")
@click.argument("username")
@click.option("--name", "label", required=True, help="what the token is for")
@click.option("--expires-days", type=float, default=None)
def tokens_create(username: str, label: str, expires_days: float | None) -> None:
    """Create an API token for USERNAME and print it (shown only this once)."""
    from portal.auth import tokens as auth_tokens

    prepare_db()
    try:
        _view, secret = auth_tokens.create_token(SYSTEM, username, label, expires_days)
    except PortalError as exc:
        fail(exc)
        return
    click.echo(secret)


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke an API token by id."""
    from portal.auth import tokens as auth_tokens

    prepare_db()
    try:
        auth_tokens.revoke_token(SYSTEM, token_id)
    except PortalError as exc:
        fail(exc)
        return
    click.echo(f"revoked token {token_id}")


@main.group()
def logins() -> None:
    """Locked logins: list them, unlock a username (when no admin can log in to do it on the Users page)."""


@logins.command("list")
def logins_list() -> None:
    """Usernames locked or backing off now: name, state, failures, until, last client address."""
    from portal.auth import login_throttle

    prepare_db()
    for lock in login_throttle.throttled():
        state = "locked" if lock.locked else "backing-off"
        click.echo(f"{lock.username}\t{state}\t{lock.failures}\t{lock.until}\t{lock.last_client}")


@logins.command("unlock")
@click.argument("username")
def logins_unlock(username: str) -> None:
    """Forget USERNAME's failed logins, so it may log in at once (audited as auth.login_unlocked)."""
    from portal.auth import login_throttle

    prepare_db()
    try:
        login_throttle.unlock(SYSTEM, username)
    except PortalError as exc:
        fail(exc)
        return
    click.echo(f"unlocked {username}")


@main.command()
def openapi() -> None:
    """Print the OpenAPI document (the frontend's client is generated from it)."""
    from portal.app import create_app

    click.echo(json.dumps(create_app(get_settings()).openapi(), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
