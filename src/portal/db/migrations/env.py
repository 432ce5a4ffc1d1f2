"""Alembic environment: uses the connection handed over by portal.db.migrate, or the settings' URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import portal.audit.models
import portal.auth.models
import portal.catalog.models
import portal.execution.models
import portal.jobs.models
import portal.schedules.models
import portal.secrets.models
import portal.sources.models  # noqa: F401  (register every table on the metadata)
from portal.db.base import Base
from portal.db.session import make_engine
from portal.settings import get_settings

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(get_settings().resolved_database_url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
