"""The `portal backup` and `portal restore` commands (added to the `portal` command in cli.py)."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from portal.errors import PortalError
from portal.settings import get_settings

if TYPE_CHECKING:
    from portal.backup.backup import BackupReport

T = TypeVar("T")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--include-secrets-key",
    is_flag=True,
    help="put the key that decrypts the secrets in the archive too (then keep the archive as secret as the key)",
)
@click.option(
    "--no-sync",
    is_flag=True,
    help="do not wait for the archive to reach the disk (fsync) before putting it in place: for a caller that "
    "syncs the file itself (as pg_basebackup's --no-sync); a crash soon after may leave it incomplete",
)
def backup(file: Path, include_secrets_key: bool, no_sync: bool) -> None:
    """Write one consistent archive of this portal (database, bundles, manifest) while it may be running."""
    from portal.backup.backup import backup as make_backup
    from portal.db import session as db

    def run() -> BackupReport:
        db.configure(get_settings())
        return make_backup(file, include_key=include_secrets_key, sync=not no_sync)

    report = _one_line_errors(run)
    counts = report.counts
    click.echo(
        f"backup written to {report.path}: {report.size / 1e6:.1f} MB, {counts.get('jobs', 0)} jobs, "
        f"{counts.get('audit_log', 0)} audit entries, {report.bundles} bundles in {report.seconds:.1f} s"
        + ("; the secrets key is in it" if report.key_included else "")
    )
    if report.missing_bundles:
        click.echo(
            f"warning: {len(report.missing_bundles)} bundle(s) the catalog lists were missing from the store and are "
            f"not in the archive: {', '.join(report.missing_bundles[:5])}",
            err=True,
        )


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="replace what the target data directory or database holds")
def restore(file: Path, force: bool) -> None:
    """Restore a `portal backup` archive into this portal's (empty) data directory or database."""
    from portal.backup.restore import restore as run_restore

    report = _one_line_errors(lambda: run_restore(file, force=force))
    migrated = report.schema_from != report.schema_to
    click.echo(
        f"restored the backup of {report.created_at}: {report.counts.get('jobs', 0)} jobs, "
        f"{report.counts.get('audit_log', 0)} audit entries, {report.bundles} bundles in {report.seconds:.1f} s"
        + (f" (schema {report.schema_from} migrated to {report.schema_to})" if migrated else "")
        + ("; the secrets key was written to the data directory" if report.key_written else "")
    )
    if report.missing_bundles:
        click.echo(
            f"warning: the backup lacked {len(report.missing_bundles)} bundle(s) its portal had lost; their versions "
            f"cannot run: {', '.join(report.missing_bundles[:5])}",
            err=True,
        )


def _one_line_errors(action: Callable[[], T]) -> T:
    """Run `action`; on a failure print one line with the reason and exit 1 (for scripts and cron)."""
    try:
        return action()
    except PortalError as exc:
        message = exc.message
    except Exception as exc:  # the promise is one line, whatever failed: the type says where to look
        if _says_what_failed(exc):
            message = (str(exc).splitlines() or [type(exc).__name__])[0]
        else:
            message = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _says_what_failed(exc: Exception) -> bool:
    """A file system's or a database's error, whose own first line is the reason (SQLAlchemy's is looked up
    only once something imported it: nothing else can have raised one, and every other command then starts
    without it)."""
    sqlalchemy_errors = sys.modules.get("sqlalchemy.exc")
    return isinstance(exc, OSError | sqlite3.Error) or (
        sqlalchemy_errors is not None and isinstance(exc, sqlalchemy_errors.SQLAlchemyError)
    )
