"""The portal's tables as data: whether a database holds any, their row counts, copying every row from one
database to another of the same schema revision (a logical dump and load, across SQLite and PostgreSQL), and
dropping them all."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, Engine, Table, func, insert, inspect, select, text

from portal.db.base import Base

BATCH = 5000
BLOBS = "bundle_blobs"  # bundles travel as archive members, not as rows


def portal_tables() -> list[Table]:
    """Every table of the models, parents before the tables that refer to them."""
    import portal.audit.models
    import portal.auth.models
    import portal.catalog.models
    import portal.execution.models
    import portal.jobs.models
    import portal.schedules.models
    import portal.secrets.models
    import portal.sources.models  # noqa: F401  (registers every table on the metadata, as the migrations do)

    return list(Base.metadata.sorted_tables)


def row_counts(conn: Connection) -> dict[str, int]:
    present = set(inspect(conn).get_table_names())
    return {
        t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0) for t in portal_tables() if t.name in present
    }


def holds_data(engine: Engine) -> list[str]:
    """What makes this database not empty: its portal tables that hold a row, and any table that is not the
    portal's (none: a new or freshly migrated database)."""
    with engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        ours = {t.name for t in portal_tables()} | {"alembic_version", "sqlite_sequence"}
        held = [
            t.name
            for t in portal_tables()
            if t.name in present and conn.execute(select(text("1")).select_from(t).limit(1)).first() is not None
        ]
        return held + sorted(f"{name} (not the portal's)" for name in present - ours)


def copy_rows(source: Connection, target: Connection, skip: Iterable[str] = ()) -> dict[str, int]:
    """Copy every row of every portal table, in key order and in batches, with the models' types on both sides
    (so timestamps, JSON and binary values convert between the dialects); the rows copied per table."""
    skipped = set(skip)
    copied: dict[str, int] = {}
    for table in portal_tables():
        if table.name in skipped:
            continue
        count = 0
        query = select(table).order_by(*table.primary_key.columns)
        result = source.execution_options(stream_results=True, yield_per=BATCH).execute(query)
        for rows in result.partitions(BATCH):
            target.execute(insert(table), [dict(row._mapping) for row in rows])
            count += len(rows)
        copied[table.name] = count
    return copied


def clear_rows(conn: Connection) -> None:
    """Delete every row of every portal table (children first), such as the rows a migration may seed."""
    for table in reversed(portal_tables()):
        conn.execute(table.delete())


def reset_sequences(conn: Connection) -> None:
    """On PostgreSQL, move each serial key's sequence past the rows copied in with their keys."""
    if conn.dialect.name != "postgresql":
        return
    for table in portal_tables():
        for column in table.primary_key.columns:
            # NULL for a key without a sequence (a text key, one part of a composite key)
            sequence = conn.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name})
            if sequence:
                conn.execute(
                    text(
                        f'SELECT setval(:s, COALESCE((SELECT MAX("{column.name}") FROM "{table.name}"), 0) + 1, false)'
                    ),
                    {"s": sequence},
                )


def drop_portal_tables(conn: Connection) -> None:
    """Drop the portal's tables and its schema revision in the transaction of `conn` (what `restore --force`
    replaces); other tables stay."""
    cascade = " CASCADE" if conn.dialect.name == "postgresql" else ""
    for name in [*(t.name for t in reversed(portal_tables())), "alembic_version"]:
        conn.execute(text(f'DROP TABLE IF EXISTS "{name}"{cascade}'))
