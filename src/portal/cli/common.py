"""What the `portal` subcommands share: a migrated database, and a PortalError as one line and exit status 1."""

from __future__ import annotations

import json
import sys

import click

from portal.errors import PortalError
from portal.settings import get_settings


def prepare_db() -> None:
    """Connect to the database of the settings and bring its schema up to date."""
    from portal.db import migrate
    from portal.db import session as db

    db.configure(get_settings())
    migrate.upgrade()


def fail(exc: PortalError) -> None:
    """Print the error (and its details) on stderr and exit with status 1."""
    click.echo(f"error: {exc.message}", err=True)
    if exc.details:
        click.echo(json.dumps(exc.details, indent=2, default=str), err=True)
    sys.exit(1)
