"""Job counters and hourly rollups, kept in the transaction of every state change.

Dashboards and metrics read these small tables instead of counting over the jobs table, so their cost does not
grow with history. The hourly rollups count the runs of items (kind `catalog_execution`): imports, item tests
and dry runs are in the state counters only. `rebuild()` recomputes both from the jobs themselves (the migration
that adds them, and `portal admin recount` after jobs were written behind the service's back).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    delete,
    event,
    func,
    insert,
    inspect,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from portal.jobs import kinds
from portal.jobs.models import Job, JobCount, JobHourly, JobOwnerCount

counts_t: Table = JobCount.__table__  # type: ignore[assignment]
hourly_t: Table = JobHourly.__table__  # type: ignore[assignment]
owners_t: Table = JobOwnerCount.__table__  # type: ignore[assignment]
jobs_t: Table = Job.__table__  # type: ignore[assignment]
# The ends the rollups count as runs: a REJECTED job never ran its task (its inputs were refused), so it only
# counts as created, never as a failure.
FINISHED = ("SUCCEEDED", "FAILED", "CANCELLED")
_HOURLY_COUNTS = ("created", "succeeded", "failed", "cancelled", "duration_ms_sum", "timed")
_statements: dict[tuple[str, int], Any] = {}
_DELTAS_KEY = "portal.job_counter_deltas"
CHUNK = 32


def upsert_statement(
    table: Table, keys: tuple[str, ...], added: tuple[str, ...], kept_max: tuple[str, ...], count: int
) -> Any:
    """`INSERT ... VALUES <count rows> ON CONFLICT (keys) DO UPDATE`: `added` columns are summed, `kept_max`
    keep the larger value. Written as SQL text (the same on SQLite and PostgreSQL) because SQLAlchemy does not
    cache the compiled form of a multi-row upsert, and compiling it cost more than running it."""
    key = (table.name, count)
    statement = _statements.get(key)
    if statement is None:
        columns = (*keys, *added, *kept_max)
        rows = ", ".join("(" + ", ".join(f":{name}_{index}" for name in columns) + ")" for index in range(count))
        updates = [f"{name} = {table.name}.{name} + excluded.{name}" for name in added]
        current = {name: f"{table.name}.{name}" for name in kept_max}
        updates += [
            f"{name} = CASE WHEN excluded.{name} > {current[name]} THEN excluded.{name} ELSE {current[name]} END"
            for name in kept_max
        ]
        # The table's own column types bind the values (a datetime is stored as the column stores it on SQLite:
        # bound raw, it would be another string, another key, and a second row for the same hour).
        typed = [bindparam(f"{name}_{index}", type_=table.c[name].type) for name in columns for index in range(count)]
        statement = text(
            f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES {rows} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(updates)}"
        ).bindparams(*typed)
        _statements[key] = statement
    return statement


def hour_of(at: datetime) -> datetime:
    """The UTC hour `at` falls in (the rollups' key, the same on every backend and session time zone)."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class _Deltas:
    """A transaction's changes to the counters, applied once just before it commits."""

    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    owners: Counter[tuple[int, str, str]] = field(default_factory=Counter)
    hourly: dict[tuple[datetime, str], dict[str, int]] = field(default_factory=dict)


def _deltas(s: Session) -> _Deltas:
    deltas: _Deltas = s.info.setdefault(_DELTAS_KEY, _Deltas())
    return deltas


def moved(s: Session, item_id: str, queue: str, old: str | None, new: str, *, owner: int | None) -> None:
    """A job of `item_id` in `queue`, created by `owner`, went from state `old` (None: it is new) to `new`."""
    deltas = _deltas(s)
    deltas.counts[(new, queue, item_id)] += 1
    deltas.owners[(owner or 0, new, item_id)] += 1
    if old is not None:
        deltas.counts[(old, queue, item_id)] -= 1
        deltas.owners[(owner or 0, old, item_id)] -= 1


def _add_hourly(s: Session, at: datetime, item_id: str, values: dict[str, int]) -> None:
    row = _deltas(s).hourly.setdefault((hour_of(at), item_id), {})
    for name, value in values.items():
        row[name] = max(row.get(name, 0), value) if name == "duration_ms_max" else row.get(name, 0) + value


def created(s: Session, item_id: str, at: datetime) -> None:
    """One job of `item_id` was created at `at`."""
    _add_hourly(s, at, item_id, {"created": 1})


def _finish_values(state: str, at: datetime, started_at: datetime | None) -> dict[str, int]:
    """The rollup increments of a job that ended in `state`; its run time counts when it had started."""
    values = {state.lower(): 1}
    if started_at is not None:
        duration = max(0, int((at - started_at).total_seconds() * 1000))
        values.update(duration_ms_sum=duration, duration_ms_max=duration, timed=1)
    return values


def finished(s: Session, item_id: str, state: str, at: datetime, started_at: datetime | None) -> None:
    """One job of `item_id` ended in `state` at `at`."""
    _add_hourly(s, at, item_id, _finish_values(state, at, started_at))


def removed(s: Session, job: Any) -> None:
    """A stored job was deleted (the retention): it leaves the counters, and a run the hourly rollups, as if it
    had never been. Call `settle_removals` with the keys this returns before the transaction commits."""
    deltas = _deltas(s)
    deltas.counts[(job.state, job.queue, job.item_id)] -= 1
    deltas.owners[(job.created_by or 0, job.state, job.item_id)] -= 1
    if job.kind != kinds.TASK:
        return
    _add_hourly(s, job.created_at, job.item_id, {"created": -1})
    if job.state in FINISHED and job.finished_at is not None:
        values = _finish_values(job.state, job.finished_at, job.started_at)
        values.pop("duration_ms_max", None)
        _add_hourly(s, job.finished_at, job.item_id, {name: -value for name, value in values.items()})


def settle_removals(s: Session) -> None:
    """Write the counter changes of `removed` now, then put right what a subtraction cannot: an hour left with
    no timed run has no longest run either, and an hour left with nothing is no row (as a recount has it)."""
    deltas = _deltas(s)
    hours = sorted({hour for hour, _ in deltas.hourly})
    items = sorted({item_id for _, item_id in deltas.hourly})
    _apply(s)
    if not hours:
        return
    touched = and_(hourly_t.c.hour.in_(hours), hourly_t.c.item_id.in_(items))
    conn = s.connection()
    conn.execute(
        hourly_t.update()
        .where(touched, hourly_t.c.timed == 0, hourly_t.c.duration_ms_max != 0)
        .values(duration_ms_max=0)
    )
    empty = [hourly_t.c[name] == 0 for name in ("created", "succeeded", "failed", "cancelled", "timed")]
    conn.execute(delete(hourly_t).where(touched, *empty))


@event.listens_for(Session, "before_commit")
def _apply(session: Session) -> None:
    """Write the transaction's counter changes, in one fixed order of keys: concurrent transactions then lock
    the same rows in the same order (no deadlock on PostgreSQL), and opposite moves within one (a slot that
    finishes a job and claims the next) cancel out before they cost a write. Each table gets one statement with
    all its rows (an executemany costs more than the rows for the two or three a state change touches)."""
    deltas: _Deltas | None = session.info.pop(_DELTAS_KEY, None)
    if deltas is None:
        return
    conn = session.connection()
    counts = [
        {"state": state, "queue": queue, "item_id": item_id, "n": n}
        for (state, queue, item_id), n in sorted(deltas.counts.items())
        if n
    ]
    for chunk in chunks(counts):
        conn.execute(upsert_statement(counts_t, ("state", "queue", "item_id"), ("n",), (), len(chunk)), numbered(chunk))
    owners = [
        {"created_by": owner, "state": state, "item_id": item_id, "n": n}
        for (owner, state, item_id), n in sorted(deltas.owners.items())
        if n
    ]
    for chunk in chunks(owners):
        conn.execute(
            upsert_statement(owners_t, ("created_by", "state", "item_id"), ("n",), (), len(chunk)), numbered(chunk)
        )
    hourly = [_hourly_row(hour, item_id, **values) for (hour, item_id), values in sorted(deltas.hourly.items())]
    for chunk in chunks(hourly):
        statement = upsert_statement(hourly_t, ("hour", "item_id"), _HOURLY_COUNTS, ("duration_ms_max",), len(chunk))
        conn.execute(statement, numbered(chunk))


def chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows in statements of at most CHUNK rows (few distinct statements to cache, few parameters each)."""
    return [rows[start : start + CHUNK] for start in range(0, len(rows), CHUNK)]


def numbered(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The parameters of a multi-row statement: each row's values as `<column>_<row>`."""
    return {f"{name}_{index}": value for index, row in enumerate(rows) for name, value in row.items()}


def _hourly_row(hour: datetime, item_id: str, **values: int) -> dict[str, Any]:
    row: dict[str, Any] = {"hour": hour, "item_id": item_id, "duration_ms_max": 0}
    row.update(dict.fromkeys(_HOURLY_COUNTS, 0))
    row.update(values)
    return row


def rebuild(conn: Connection, batch: int = 20_000) -> None:
    """Recompute the counters and the hourly rollups from every stored job."""
    # An older migration rebuilds too, before the owner counters exist.
    with_owners = inspect(conn).has_table(owners_t.name)
    if conn.dialect.name == "postgresql":
        # Changes committed between the scan and the rewrite would be lost: hold them off until the end.
        tables = "job_counts, job_owner_counts, job_hourly" if with_owners else "job_counts, job_hourly"
        conn.execute(text(f"LOCK TABLE {tables} IN EXCLUSIVE MODE"))
    counts: Counter[tuple[str, str, str]] = Counter()
    owners: Counter[tuple[int, str, str]] = Counter()
    rollups: dict[tuple[datetime, str], dict[str, Any]] = {}

    def add(hour: datetime, item_id: str, **values: int) -> None:
        row = rollups.setdefault((hour, item_id), _hourly_row(hour, item_id))
        for name, value in values.items():
            row[name] = max(row[name], value) if name == "duration_ms_max" else row[name] + value

    jobs = select(
        Job.state, Job.queue, Job.item_id, Job.created_by, Job.created_at, Job.started_at, Job.finished_at, Job.kind
    )
    for state, queue, item_id, owner, created_at, started_at, finished_at, kind in conn.execute(
        jobs.execution_options(yield_per=batch)
    ):
        counts[(state, queue, item_id)] += 1
        owners[(owner or 0, state, item_id)] += 1
        if kind != kinds.TASK:  # the hourly rollups count the runs of items: no imports, tests or dry runs
            continue
        add(hour_of(created_at), item_id, created=1)
        if state in FINISHED and finished_at is not None:
            add(hour_of(finished_at), item_id, **_finish_values(state, finished_at, started_at))
    conn.execute(delete(counts_t))
    if with_owners:
        conn.execute(delete(owners_t))
    conn.execute(delete(hourly_t))
    count_rows = [{"state": s, "queue": q, "item_id": i, "n": n} for (s, q, i), n in counts.items()]
    for start in range(0, len(count_rows), batch):
        conn.execute(insert(counts_t), count_rows[start : start + batch])
    owner_rows = [{"created_by": o, "state": s, "item_id": i, "n": n} for (o, s, i), n in owners.items()]
    if not with_owners:
        owner_rows = []
    for start in range(0, len(owner_rows), batch):
        conn.execute(insert(owners_t), owner_rows[start : start + batch])
    hourly_rows = list(rollups.values())
    for start in range(0, len(hourly_rows), batch):
        conn.execute(insert(hourly_t), hourly_rows[start : start + batch])


# --- reading -------------------------------------------------------------------------------------------------


def state_counts(conn: Connection) -> list[tuple[str, str, str, int]]:
    """(state, queue, item_id, n) for every non-empty counter."""
    rows = conn.execute(select(counts_t.c.state, counts_t.c.queue, counts_t.c.item_id, counts_t.c.n)).all()
    return [(r.state, r.queue, r.item_id, int(r.n)) for r in rows if r.n]


def count_jobs(
    conn: Connection,
    *,
    states: list[str] | None = None,
    item_id: str | None = None,
    owner: int | None = None,
    search_items: list[str] | None = None,
    search_owners: list[int] | None = None,
    search_id: int | None = None,
) -> int:
    """How many jobs match a jobs list's filters, from the counters (a few hundred rows, not the jobs table).

    The filters combine with AND; the search terms (`search_*`, from `q`) with OR among themselves. A job found by
    its id only is checked on the jobs table (one primary key lookup).
    """
    searching = search_items is not None or search_owners is not None or search_id is not None
    by_owner = owner is not None or bool(search_owners)
    table = owners_t if by_owner else counts_t
    conditions = _filters(table, states, item_id, owner)
    terms: list[Any] = []
    if search_items:
        terms.append(table.c.item_id.in_(search_items))
    if search_owners:
        terms.append(table.c.created_by.in_(search_owners))
    total = 0
    if terms or not searching:
        if terms:
            conditions.append(or_(*terms))
        total = int(conn.scalar(select(func.coalesce(func.sum(table.c.n), 0)).where(*conditions)) or 0)
    if search_id is not None:
        # The job with that id, when it matches the filters and no other search term already counted it.
        extra = [jobs_t.c.id == search_id, *_filters(jobs_t, states, item_id, owner)]
        found: list[Any] = []
        if search_items:
            found.append(jobs_t.c.item_id.in_(search_items))
        if search_owners:
            found.append(func.coalesce(jobs_t.c.created_by, 0).in_(search_owners))
        if found:
            extra.append(not_(or_(*found)))
        total += int(conn.scalar(select(func.count()).select_from(jobs_t).where(and_(*extra))) or 0)
    return total


def _filters(table: Table, states: list[str] | None, item_id: str | None, owner: int | None) -> list[Any]:
    """The list's filters on a table with `state`, `item_id` and `created_by` (a counter table or the jobs)."""
    conditions: list[Any] = []
    if states:
        conditions.append(table.c.state.in_(states))
    if item_id:
        conditions.append(table.c.item_id == item_id)
    if owner is not None:
        conditions.append(table.c.created_by == owner)
    return conditions


def hourly_since(conn: Connection, since: datetime) -> list[Any]:
    """Per hour from `since`: created, succeeded, failed, cancelled, summed over items."""
    return list(
        conn.execute(
            select(
                hourly_t.c.hour,
                func.sum(hourly_t.c.created).label("created"),
                func.sum(hourly_t.c.succeeded).label("succeeded"),
                func.sum(hourly_t.c.failed).label("failed"),
                func.sum(hourly_t.c.cancelled).label("cancelled"),
            )
            .where(hourly_t.c.hour >= since)
            .group_by(hourly_t.c.hour)
        )
    )


def items_since(conn: Connection, since: datetime) -> list[Any]:
    """Per item from `since`: finished and failed runs, summed and longest run time."""
    return list(
        conn.execute(
            select(
                hourly_t.c.item_id,
                func.sum(hourly_t.c.succeeded + hourly_t.c.failed + hourly_t.c.cancelled).label("finished"),
                func.sum(hourly_t.c.failed).label("failed"),
                func.sum(hourly_t.c.duration_ms_sum).label("duration_ms_sum"),
                func.sum(hourly_t.c.timed).label("timed"),
                func.max(hourly_t.c.duration_ms_max).label("duration_ms_max"),
            )
            .where(hourly_t.c.hour >= since)
            .group_by(hourly_t.c.item_id)
        )
    )


def oldest_queued(conn: Connection, queue: str) -> datetime | None:
    """When the job that has waited longest in `queue` was queued (by `queued_at`, not id: a job approved late
    is queued late); an index on (state, queued_at) makes it a walk, not a scan."""
    jobs_t: Table = Job.__table__  # type: ignore[assignment]
    value: datetime | None = conn.scalar(
        select(jobs_t.c.queued_at)
        .where(jobs_t.c.state == "QUEUED", jobs_t.c.queue == queue)
        .order_by(jobs_t.c.queued_at)
        .limit(1)
    )
    return value
