"""Run Alembic migrations shipped inside the package (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from portal.db import session as db

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine | None = None, revision: str = "head") -> None:
    """Bring the configured database (or `engine`'s) to the newest revision (or to `revision`)."""
    with (engine or db.get_engine()).begin() as connection:
        upgrade_in(connection, revision)


def upgrade_in(connection: Connection, revision: str = "head") -> None:
    """Migrate in the transaction of `connection` (on PostgreSQL the schema changes roll back with it)."""
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def head_revision() -> str:
    """The newest revision this portal ships."""
    return str(ScriptDirectory.from_config(alembic_config()).get_current_head())


def known_revisions() -> set[str]:
    """Every revision this portal ships."""
    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def revisions(engine: Engine | None = None) -> tuple[str | None, str | None]:
    """(current revision of the database, newest revision shipped)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with (engine or db.get_engine()).connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current, head
