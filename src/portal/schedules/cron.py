"""Cron expressions in a time zone: parsing, checking, and the next runs as UTC instants, DST included.

Expressions have 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first
(`*/10 * * * * *`), or one of `@yearly @annually @monthly @weekly @daily @midnight @hourly`. Field syntax is
croniter's (lists, ranges, steps, names like `mon-fri`, `L` for the last day of the month).

The expression is matched against the *local wall-clock time* of the schedule's time zone, and DST is handled
the way Vixie cron (Debian's cron) does it:

- An expression with a fixed minute and hour (`30 2 * * *`, `0 9 * * mon-fri`) names wall-clock times. One
  that falls in the gap of a spring-forward change (02:30 when clocks jump from 02:00 to 03:00) runs shifted by
  the gap (at 03:30); one that falls in the repeated hour of a fall-back change runs once, at its first
  occurrence. So a daily job runs exactly once every day. (This is also `java.time`'s and JavaScript
  Temporal's default, "compatible", resolution.)
- An expression with `*` in its minute or hour field (`*/15 * * * *`, `0 * * * *`, `@hourly`) runs in real
  time: at every instant whose local time matches. Local times in the gap do not exist and so never match; the
  repeated hour matches twice. So "every 15 minutes" really is every 15 minutes across a change.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# No real-world DST change moves clocks by more than 2 hours: a wall time maps to an instant at most this far
# from where its neighbours map, which bounds how far ahead `next_runs` must look to return instants in order.
_MAX_SHIFT = timedelta(hours=3)
_MAX_STEPS = 200_000


class CronError(ValueError):
    """An expression or time zone that cannot be used; `field` names the request field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Cron:
    """A checked expression (aliases expanded) in a time zone."""

    expression: str
    fields: tuple[str, ...]
    zone: ZoneInfo

    @property
    def seconds(self) -> bool:
        return len(self.fields) == 6

    @property
    def real_time(self) -> bool:
        """`*` in the minute or hour field: runs at every matching instant (see the module's docstring)."""
        minute, hour = (self.fields[1], self.fields[2]) if self.seconds else (self.fields[0], self.fields[1])
        return minute.startswith("*") or hour.startswith("*")


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` (`Europe/Berlin`, `UTC`); CronError on field `timezone` otherwise."""
    if not name or name != name.strip() or name.startswith(("/", ".")) or ".." in name:
        raise CronError("timezone", f"{name!r} is not an IANA time zone name (like Europe/Berlin or UTC)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError("timezone", f"unknown time zone {name!r} (an IANA name, like Europe/Berlin or UTC)") from None


def parse(expression: str, timezone: str) -> Cron:
    """Check an expression and a time zone. Raises CronError naming the field (`cron` or `timezone`)."""
    tz = zone(timezone)
    text = " ".join(expression.split())
    if not text:
        raise CronError("cron", "a cron expression is required (like `0 9 * * *`)")
    if text.startswith("@"):
        if text.lower() not in ALIASES:
            raise CronError("cron", f"unknown alias {text!r}; one of {', '.join(ALIASES)}")
        text = ALIASES[text.lower()]
    fields = tuple(text.split(" "))
    if len(fields) not in (5, 6):
        raise CronError(
            "cron",
            f"{len(fields)} fields: use 5 (minute hour day month weekday) or 6 with seconds first",
        )
    try:
        croniter(text, datetime(2000, 1, 1), second_at_beginning=len(fields) == 6)
    except (CroniterError, ValueError, TypeError, KeyError) as exc:
        raise CronError("cron", f"not a valid cron expression: {exc}") from None
    cron = Cron(expression=text, fields=fields, zone=tz)
    next(_candidates(cron, datetime.now(UTC)), None)  # raises when it never matches
    return cron


def _walls(cron: Cron, start: datetime) -> Iterator[datetime]:
    """Matching naive wall-clock times after `start` (naive, local), in order."""
    it = croniter(" ".join(cron.fields), start, second_at_beginning=cron.seconds)
    for _ in range(_MAX_STEPS):
        try:
            yield it.get_next(datetime)
        except CroniterError:
            raise CronError("cron", "the expression never matches a date (like the 31st of February)") from None
    raise CronError("cron", "the expression matches too rarely to compute its runs")


def _instants(cron: Cron, wall: datetime) -> list[datetime]:
    """The UTC instants of one matching wall time: none, one, or two (see the module's docstring)."""
    first = wall.replace(tzinfo=cron.zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=cron.zone, fold=1).astimezone(UTC)
    if first == second:
        return [first]
    exists = first.astimezone(cron.zone).replace(tzinfo=None) == wall
    if exists:  # the repeated hour of a fall-back change: `first` is the earlier occurrence
        return [first, second] if cron.real_time else [first]
    # The gap of a spring-forward change: fold=0 reads the wall time with the offset before the change, which
    # is the time shifted later by the gap.
    return [] if cron.real_time else [first]


def _candidates(cron: Cron, after: datetime) -> Iterator[datetime]:
    """UTC instants after `after`, in order, without repeats."""
    # Wall times before `after`'s own can map after it only across an offset change: start that much earlier.
    start = after.astimezone(cron.zone).replace(tzinfo=None, microsecond=0) - _shift_near(cron, after)
    pending: list[datetime] = []
    last: datetime | None = None
    for wall in _walls(cron, start):
        pending.extend(t for t in _instants(cron, wall) if t > after)
        pending.sort()
        while pending and _settled(cron, pending[0], wall):
            instant = pending.pop(0)
            if last is None or instant > last:
                last = instant
                yield instant


def _settled(cron: Cron, instant: datetime, wall: datetime) -> bool:
    """Whether no wall time after `wall` can map to an instant before `instant`, so it can be returned.

    A later wall time maps before the instant only across an offset change, by at most the change: once the
    walk is that far past the instant's own wall time (zero when no change is near), the instant is final.
    """
    local = instant.astimezone(cron.zone).replace(tzinfo=None)
    return local + _MAX_SHIFT <= wall or local + _shift_near(cron, instant) <= wall


def _shift_near(cron: Cron, instant: datetime) -> timedelta:
    """How much the zone's offset changes around `instant` (zero almost always)."""
    before = (instant - _MAX_SHIFT).astimezone(cron.zone).utcoffset() or timedelta()
    after = (instant + _MAX_SHIFT).astimezone(cron.zone).utcoffset() or timedelta()
    return abs(after - before)


def next_runs(cron: Cron, after: datetime, count: int) -> list[datetime]:
    """The next `count` runs strictly after `after`, as UTC instants (whole seconds)."""
    out: list[datetime] = []
    for instant in _candidates(cron, after):
        out.append(instant)
        if len(out) >= count:
            break
    return out


def next_run(cron: Cron, after: datetime) -> datetime | None:
    runs = next_runs(cron, after, 1)
    return runs[0] if runs else None


def smallest_gap(cron: Cron, after: datetime, samples: int = 30) -> timedelta | None:
    """The shortest time between two of the next `samples` runs (None when there are fewer than two)."""
    runs = next_runs(cron, after, samples)
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    return min(gaps) if gaps else None
