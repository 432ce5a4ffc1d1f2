"""`portal catalog`: import folders, migrate the original portal's registry, push bundles, purge archived versions,
start a new item from a template, and run an item folder once in the sandbox."""

from __future__ import annotations

import json
import sys

import click

from portal.cli.common import fail, prepare_db
from portal.errors import PortalError
from portal.identity.principal import SYSTEM
from portal.settings import get_settings


@click.group()
def catalog() -> None:
    """Manage the catalog."""


@catalog.command("import-local")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--replace", is_flag=True, help="replace versions registered with different content (audited)")
@click.option("--development", is_flag=True, help="run these versions straight from PATH (edits apply at once)")
def catalog_import_local(path: str, replace: bool, development: bool) -> None:
    """Validate and register the item versions under PATH (items/<id>/<version>/)."""
    from portal.catalog import service

    prepare_db()
    try:
        report = service.import_local(SYSTEM, path, enforce_roots=False, replace=replace, development=development)
    except PortalError as exc:
        fail(exc)
        return
    for version in report.imported:
        click.echo(f"{version.outcome:10} {version.item_id} {version.version} {version.bundle_sha256[:12]}")


@catalog.command("migrate-json")
@click.argument("registry", type=click.Path(exists=True, dir_okay=False))
@click.argument("bundle_dir", type=click.Path(exists=True, file_okay=False))
def catalog_migrate_json(registry: str, bundle_dir: str) -> None:
    """Import the original portal's catalog_registry.json and its bundles (safe to run again)."""
    from pathlib import Path

    from portal.catalog import registry_json

    prepare_db()
    try:
        report = registry_json.migrate(SYSTEM, Path(registry), Path(bundle_dir))
    except PortalError as exc:
        fail(exc)
        return
    for key in report.imported:
        click.echo(f"imported   {key}")
    for key in report.unchanged:
        click.echo(f"unchanged  {key}")
    for key, reason in report.failed.items():
        click.echo(f"failed     {key}: {reason}")
    click.echo(f"{len(report.imported)} imported, {len(report.unchanged)} unchanged, {len(report.failed)} failed")
    if report.failed:
        sys.exit(1)


@catalog.command("push-bundles")
def catalog_push_bundles() -> None:
    """Copy the bundle files of the data directory into the database bundle store (PORTAL_BUNDLE_STORE=database).

    `portal serve` does this by itself at start; this is the same step for a node that is not started yet.
    """
    from portal.catalog import storage

    prepare_db()
    try:
        report = storage.push_bundles()
    except PortalError as exc:
        fail(exc)
        return
    for sha256 in report.uploaded:
        click.echo(f"uploaded   {sha256}")
    for sha256 in report.missing:
        click.echo(f"missing    {sha256} (in the catalog, but neither in the database nor in the data directory)")
    click.echo(f"{len(report.uploaded)} uploaded, {report.present} already stored, {len(report.missing)} missing")
    if report.missing:
        sys.exit(1)


@catalog.command("purge-archived")
def catalog_purge_archived() -> None:
    """Forget the versions archived longer than PORTAL_CATALOG_ARCHIVE_RETENTION_DAYS (each `portal serve` does
    this every hour; the bundles that jobs ran stay)."""
    from portal.catalog import administration

    prepare_db()
    for purged in administration.purge_archived():
        click.echo(f"purged     {purged}")


@catalog.command("new")
@click.argument("item_id", required=False)
@click.option("--from", "template", default="basic", show_default=True, help="the template to start from (--list)")
@click.option("--version", default="1.0.0", show_default=True, help="the version folder to create")
@click.option("--dir", "root", default="items", show_default=True, help="the folder holding the items")
@click.option("--force", is_flag=True, help="write the template's files into an existing version folder")
@click.option("--list", "list_templates", is_flag=True, help="list the templates and exit")
def catalog_new(item_id: str | None, template: str, version: str, root: str, force: bool, list_templates: bool) -> None:
    """Start a new item: write DIR/ITEM_ID/VERSION/ from a template, ready to run and to import."""
    import shlex
    from pathlib import Path

    from portal.catalog import scaffold

    if list_templates:
        for shipped in scaffold.TEMPLATES:
            click.echo(f"{shipped.name:<13} {shipped.description}")
        return
    if not item_id:
        raise click.UsageError("give the new item's id (or --list for the templates)")
    try:
        made = scaffold.create(item_id, Path(root), template=template, version=version, force=force)
    except PortalError as exc:
        fail(exc)
        return
    folder, example = shlex.quote(str(made.path)), shlex.quote(json.dumps(made.template.example))
    click.echo(f"created {made.path} from the {made.template.name} template: {', '.join(made.files)}")
    if made.kept:
        click.echo(f"left as they were (not the template's): {', '.join(made.kept)}")
    click.echo(f"try it:    portal catalog run {folder} --inputs {example}")
    click.echo(f"import it: portal catalog import-local {folder}")


@catalog.command("run")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--inputs", "inputs_json", default="{}", show_default=True, help="the inputs as a JSON object")
def catalog_run(path: str, inputs_json: str) -> None:
    """Check the item version at PATH and run it once in the job sandbox, printing its events."""
    from portal.execution.local import run_folder_once

    try:
        inputs = json.loads(inputs_json)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--inputs") from None
    if not isinstance(inputs, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--inputs")
    try:
        ok = run_folder_once(get_settings(), path, inputs, click.echo)
    except PortalError as exc:
        fail(exc)
        return
    sys.exit(0 if ok else 1)
