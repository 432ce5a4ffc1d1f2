"""Keyset pages of the audit log whose cost is bounded at any depth and for any combination of filters.

The order is newest first by (at, id), and every filter has an index ending in (at, id) (see `models.py`); (at, id)
rather than id alone, so that a time range is a range of each of those indexes. So:

- One filter (with or without a time range and a cursor) is one walk along its index that stops after the page,
  whatever the page's depth. An action prefix is the list of known actions it matches (a loose index scan, see
  `distinct_values`): one walk per action, merged.
- Several filters: one of them drives the walk and the others are checked on each row it reaches. The kinds are
  tried most selective first (request, target id, actor, action, target type); the first whose index holds fewer
  than `scan_rows` entries in the window drives (asking its index for its `scan_rows`-th entry tells, an index-only
  walk), and as all its rows fit the budget the page is complete. When every filter is broader than that, the walk
  is cut at the `scan_rows`-th entry of the filter reaching furthest back: the page holds the matches above the cut
  (maybe fewer than `limit`, maybe none) and its `next_before_id` continues below it.

The other filters are written as expressions (`column || ''`) so the database cannot pick their indexes instead of
the driver's: the bound only holds for the index chosen here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, or_, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from portal.audit.models import AuditEntry
from portal.audit.schemas import AuditFilter

Key = tuple[datetime, int]
"""A position in the list: (at, id) of an entry."""

# Action names come from the code: a few dozen. The bound only guards the loop.
MAX_ACTIONS = 10_000
_DISTINCT = {
    "action": AuditEntry.action,
    "actor_name": AuditEntry.actor_name,
    "target_type": AuditEntry.target_type,
}


@dataclass(frozen=True)
class _Filter:
    """One filter: equality conditions per walk (each served by an index ending in (at, id)) and the same test as
    an expression no index serves (used while another filter drives)."""

    walks: list[list[ColumnElement[bool]]]
    check: ColumnElement[bool] | None


def distinct_values(session: Session, column: Literal["action", "actor_name", "target_type"], limit: int) -> list[str]:
    """The distinct non-null values of an indexed column, sorted, at most `limit`.

    A loose index scan: each step is one index seek (`min(column) WHERE column > previous`), so the cost grows with
    the number of distinct values, not with the number of entries.
    """
    name = _DISTINCT[column].key
    statement = text(
        f"""
        WITH RECURSIVE found(value, n) AS (
            SELECT min({name}), 1 FROM audit_log
            UNION ALL
            SELECT (SELECT min({name}) FROM audit_log WHERE {name} > found.value), n + 1
            FROM found WHERE found.value IS NOT NULL AND n < :limit
        )
        SELECT value FROM found WHERE value IS NOT NULL
        """
    )
    return [str(value) for value in session.scalars(statement, {"limit": limit})]


def page(
    session: Session, filters: AuditFilter, cursor: Key | None, limit: int, scan_rows: int
) -> tuple[list[Key], Key | None]:
    """The keys of one page (newest first) and the cursor of the next page (None at the end)."""
    chosen = _filters(session, filters)
    if chosen is None:
        return [], None
    window: list[ColumnElement[bool]] = []
    if filters.since is not None:
        window.append(AuditEntry.at >= filters.since)
    if filters.until is not None:
        window.append(AuditEntry.at < filters.until)
    if cursor is not None:
        window.append(_below(cursor))
    driver, cut = _driver(session, chosen, window, scan_rows)
    if cut is not None:
        window.append(_not_below(cut))
    checks = [f.check for f in chosen if f is not driver and f.check is not None]
    keys: list[Key] = []
    for walk in driver.walks:
        statement = (
            select(AuditEntry.at, AuditEntry.id)
            .where(*walk, *window, *checks)
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(limit + 1)
        )
        keys.extend(session.execute(statement).tuples())
    keys.sort(reverse=True)
    if len(keys) > limit:
        return keys[:limit], keys[limit - 1]
    return keys, cut


def cursor_of(session: Session, entry_id: int) -> Key | None:
    """The position of an entry, None when it does not exist."""
    at = session.scalar(select(AuditEntry.at).where(AuditEntry.id == entry_id))
    return None if at is None else (at, entry_id)


def _filters(session: Session, f: AuditFilter) -> list[_Filter] | None:
    """The given filters, most selective kind first; None when nothing can match."""
    found: list[_Filter] = []
    for column, value in (
        (AuditEntry.request_id, f.request_id),
        (AuditEntry.target_id, f.target_id),
        (AuditEntry.actor_name, f.actor),
    ):
        if value is not None:
            found.append(_Filter([[column == value]], _unindexed(column) == value))
    actions = _actions(session, f)
    if actions is not None:
        if not actions:
            return None
        found.append(_Filter([[AuditEntry.action == a] for a in actions], _unindexed(AuditEntry.action).in_(actions)))
    if f.target_type is not None:
        found.append(
            _Filter([[AuditEntry.target_type == f.target_type]], _unindexed(AuditEntry.target_type) == f.target_type)
        )
    return found or [_Filter([[]], None)]


def _actions(session: Session, f: AuditFilter) -> list[str] | None:
    """The actions that match (None: no action filter)."""
    if f.action is not None:
        return [f.action] if f.action.startswith(f.action_prefix or "") else []
    if f.action_prefix is not None:
        prefix = f.action_prefix
        return [a for a in distinct_values(session, "action", MAX_ACTIONS) if a.startswith(prefix)]
    return None


def _driver(
    session: Session, chosen: list[_Filter], window: list[ColumnElement[bool]], scan_rows: int
) -> tuple[_Filter, Key | None]:
    """The filter that drives the walk, and where the walk must stop (None: it ends by itself)."""
    if len(chosen) == 1:
        return chosen[0], None  # nothing else to check: the walk stops after the page
    cuts: list[Key] = []
    for candidate in chosen:
        cut = _cut(session, candidate, window, scan_rows)
        if cut is None:
            return candidate, None
        cuts.append(cut)
    furthest = min(range(len(chosen)), key=cuts.__getitem__)  # its budget reaches furthest back
    return chosen[furthest], cuts[furthest]


def _cut(session: Session, candidate: _Filter, window: list[ColumnElement[bool]], scan_rows: int) -> Key | None:
    """The key above which the candidate's walks hold at most `scan_rows` entries (None: fewer in all)."""
    share = max(1, scan_rows // len(candidate.walks))
    cuts: list[Key] = []
    for walk in candidate.walks:
        statement = (
            select(AuditEntry.at, AuditEntry.id)
            .where(*walk, *window)
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .offset(share - 1)
            .limit(1)
        )
        row = session.execute(statement).tuples().first()
        if row is not None:
            cuts.append(row)
    return max(cuts) if cuts else None


def _unindexed(column: InstrumentedAttribute[Any]) -> ColumnElement[Any]:
    """The column as an expression: the same values, but no index of it can drive the query."""
    return column.concat("")


def _below(key: Key) -> ColumnElement[bool]:
    """(at, id) < key, with `at <= ...` on its own so an index range serves it."""
    return and_(AuditEntry.at <= key[0], or_(AuditEntry.at < key[0], AuditEntry.id < key[1]))


def _not_below(key: Key) -> ColumnElement[bool]:
    """(at, id) >= key."""
    return and_(AuditEntry.at >= key[0], or_(AuditEntry.at > key[0], AuditEntry.id >= key[1]))
