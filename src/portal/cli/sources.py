"""`portal sources`: apply a sources document from a file (GitOps) and export the current one."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from portal.cli.common import prepare_db


@click.group()
def sources() -> None:
    """Manage the catalog's sources document."""


@sources.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--message", "-m", default="", help="why: kept with the revision")
@click.option("--no-probe", is_flag=True, help="save without probing the new or changed sources (a remote is down)")
def sources_apply(file: str, message: str, no_probe: bool) -> None:
    """Validate FILE (YAML, or JSON), probing each new or changed enabled source, and save it as a new revision,
    as the system user. Each problem is printed on a line of its own (field, line, message) and the exit status is
    1 when the document is not valid."""
    from portal.sources import service

    try:
        text = Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        click.echo(f"error: {file} cannot be read as UTF-8 text ({exc})", err=True)
        sys.exit(1)
    prepare_db()
    yaml_input = not file.lower().endswith(".json")
    message = message or f"applied from {Path(file).name}"
    answer, saved = service.apply_text(text, yaml_input=yaml_input, message=message, probe=not no_probe)
    for warning in answer.warnings:
        click.echo(f"warning: {warning.field} (line {warning.line or '-'}): {warning.message}", err=True)
    if not answer.valid:
        for problem in answer.errors:
            click.echo(f"error: {problem.field} (line {problem.line or '-'}): {problem.message}", err=True)
        sys.exit(1)
    view = service.current()
    state = "saved as" if saved else "unchanged: already"
    click.echo(f"{state} revision {view.revision} ({len(view.sources)} sources, etag {view.etag})")


@sources.command("export")
def sources_export() -> None:
    """Print the current sources document as YAML (credentials redacted; applying it back keeps them)."""
    from portal.sources import service

    prepare_db()
    click.echo(service.export_yaml(), nl=False)
