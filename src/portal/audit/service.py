"""Write audit entries inside the caller's transaction, so an action and its record commit together; list,
export and describe them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import RowMapping, insert, select
from sqlalchemy.orm import Session

from portal.audit import query
from portal.audit.models import AuditEntry
from portal.audit.schemas import AuditEntryOut, AuditFacets, AuditFilter, AuditPage, ExportFormat
from portal.context import client_ip_var, request_id_var
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import ValidationFailed
from portal.identity.principal import Principal
from portal.settings import get_settings

_INSERT = insert(AuditEntry.__table__)  # type: ignore[arg-type]
FACET_LIMIT = 1000
EXPORT_BATCH = 1000
EXPORT_COLUMNS = ["id", "at", "actor", "action", "target_type", "target_id", "ip", "request_id", "details"]
_ENTRIES = TypeAdapter(list[AuditEntryOut])


def record(
    session: Session,
    actor: Principal | None,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | int | None = None,
    details: dict[str, Any] | None = None,
    actor_name: str | None = None,
) -> None:
    """Add one audit entry (`action` is `noun.verb`) to the session's transaction.

    An entry that changes something puts the changed fields in `details` as `{"before": {...}, "after": {...}}`
    (the UI shows them as a diff), next to any context keys.
    """
    session.connection().execute(
        _INSERT,
        {
            "at": utcnow(),
            "actor_id": actor.id if actor else None,
            "actor_name": actor_name or (actor.username if actor else "anonymous"),
            "action": action,
            "target_type": target_type,
            "target_id": None if target_id is None else str(target_id),
            "details": details or {},
            "ip": client_ip_var.get(),
            "request_id": request_id_var.get(),
        },
    )


def list_entries(filters: AuditFilter, limit: int = 100) -> AuditPage:
    """Newest first (by time, then id), keyset-paged: any page of any filters costs about the same (`query.py`)."""
    with db.read() as s:
        cursor = _cursor(s, filters.before_id)
        keys, after = query.page(s, filters, cursor, limit, get_settings().audit_scan_rows)
        rows = _rows(s, keys)
    return AuditPage(items=_ENTRIES.validate_python(rows), next_before_id=None if after is None else after[1])


def facets(limit: int = FACET_LIMIT) -> AuditFacets:
    """The distinct actions, actor names and target types, for the filter dropdowns.

    Read from their indexes by a loose index scan (one seek per distinct value, `query.distinct_values`): cheap at
    any number of entries and always current, so there is no cache to keep right. Actor names can be many (a failed
    login records the name that was tried): each list stops at `limit`, and `truncated` says so.
    """
    with db.read() as s:
        found = {
            column: query.distinct_values(s, column, limit + 1) for column in ("action", "actor_name", "target_type")
        }
    return AuditFacets(
        actions=found["action"][:limit],
        actors=found["actor_name"][:limit],
        target_types=found["target_type"][:limit],
        truncated=any(len(values) > limit for values in found.values()),
    )


@dataclass(frozen=True)
class Export:
    filename: str
    media_type: str
    chunks: Iterator[str]


def export(actor: Principal, filters: AuditFilter, fmt: ExportFormat) -> Export:
    """Audit the export (`audit.export`), then stream the matching entries newest first, read in keyset batches.

    At most `PORTAL_AUDIT_EXPORT_MAX_ROWS` rows: a client that got that many continues with `before_id` set to the
    last row's id.
    """
    settings = get_settings()
    with db.read() as s:
        cursor = _cursor(s, filters.before_id)  # a wrong cursor is a 422 now, not a broken stream later
    with db.write() as s:
        details = {"format": fmt, "filters": filters.model_dump(mode="json", exclude_none=True)}
        record(s, actor, "audit.export", details=details)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    chunks = _export_chunks(filters, cursor, fmt, settings.audit_export_max_rows, settings.audit_scan_rows)
    media_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    return Export(filename=f"audit-{stamp}.{fmt}", media_type=media_type, chunks=chunks)


def _cursor(s: Session, before_id: int | None) -> query.Key | None:
    if before_id is None:
        return None
    cursor = query.cursor_of(s, before_id)
    if cursor is None:
        raise ValidationFailed(
            "no such audit entry", details=[{"field": "before_id", "message": f"no audit entry has id {before_id}"}]
        )
    return cursor


def _rows(s: Session, keys: list[query.Key]) -> list[RowMapping]:
    """The entries of a page's keys, in its order (core rows: a page of 1,000 is built in a few milliseconds)."""
    statement = select(AuditEntry.__table__).where(AuditEntry.id.in_([entry_id for _, entry_id in keys]))
    found = {row["id"]: row for row in s.connection().execute(statement).mappings()}
    return [found[entry_id] for _, entry_id in keys]


def _export_chunks(
    filters: AuditFilter, cursor: query.Key | None, fmt: ExportFormat, max_rows: int, scan_rows: int
) -> Iterator[str]:
    """One chunk per batch, each batch in its own short read transaction."""
    if fmt == "csv":
        yield _csv([EXPORT_COLUMNS])
    left = max_rows
    while left > 0:
        with db.read() as s:
            keys, cursor = query.page(s, filters, cursor, min(EXPORT_BATCH, left), scan_rows)
            rows = _rows(s, keys)
        left -= len(rows)
        if rows:
            yield _csv([_csv_row(row) for row in rows]) if fmt == "csv" else "".join(_json_line(row) for row in rows)
        if cursor is None:
            return


def _csv(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def _csv_row(row: RowMapping) -> list[Any]:
    """Text cells that a spreadsheet would run as a formula get a leading `'` (actor names can come from anyone)."""
    text = [_inert(row[column]) for column in ("actor_name", "action", "target_type", "target_id", "ip", "request_id")]
    return [row["id"], _iso(row["at"]), *text, json.dumps(row["details"], ensure_ascii=False, separators=(",", ":"))]


def _inert(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value


def _json_line(row: RowMapping) -> str:
    entry = {
        "id": row["id"],
        "at": _iso(row["at"]),
        "actor": row["actor_name"],
        "action": row["action"],
        "target_type": row["target_type"],
        "target_id": row["target_id"],
        "ip": row["ip"],
        "request_id": row["request_id"],
        "details": row["details"],
    }
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")
