"""Next runs of cron expressions in a time zone, across DST changes (Europe/Berlin: CET +01:00, CEST +02:00)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from portal.schedules import cron

BERLIN = "Europe/Berlin"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def runs(expression: str, timezone: str, after: datetime, count: int) -> list[datetime]:
    return cron.next_runs(cron.parse(expression, timezone), after, count)


def test_nine_in_berlin_is_eight_utc_in_winter_and_seven_in_summer() -> None:
    assert runs("0 9 * * *", BERLIN, utc(2026, 1, 15), 1) == [utc(2026, 1, 15, 8)]
    assert runs("0 9 * * *", BERLIN, utc(2026, 7, 15), 1) == [utc(2026, 7, 15, 7)]
    # Across the spring change (29 March 2026) and the autumn one (25 October 2026).
    assert runs("0 9 * * *", BERLIN, utc(2026, 3, 27, 12), 3) == [
        utc(2026, 3, 28, 8),
        utc(2026, 3, 29, 7),
        utc(2026, 3, 30, 7),
    ]
    assert runs("0 9 * * *", BERLIN, utc(2026, 10, 24, 12), 2) == [utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)]


def test_a_wall_time_in_the_spring_gap_runs_shifted_by_the_gap() -> None:
    # 02:30 does not exist on 29 March: it runs at 03:30 CEST (01:30 UTC), once.
    assert runs("30 2 * * *", BERLIN, utc(2026, 3, 28, 12), 2) == [utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
    # Two wall times that land on the same instant run once.
    assert runs("0,30 2-3 * * *", BERLIN, utc(2026, 3, 28, 12), 3) == [
        utc(2026, 3, 29, 1),
        utc(2026, 3, 29, 1, 30),
        utc(2026, 3, 30, 0),
    ]


def test_a_wall_time_in_the_repeated_autumn_hour_runs_once() -> None:
    # 02:30 happens twice on 25 October (CEST, then CET): a daily job runs at the first only.
    assert runs("30 2 * * *", BERLIN, utc(2026, 10, 24, 12), 2) == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_wildcard_hours_run_in_real_time_across_both_changes() -> None:
    # Every 30 minutes really is every 30 minutes: the repeated hour runs twice, the missing hour not at all.
    autumn = runs("*/30 * * * *", BERLIN, utc(2026, 10, 24, 23, 45), 5)
    assert autumn == [
        utc(2026, 10, 25, 0),
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 1),  # 02:00 CET, the repeated hour
        utc(2026, 10, 25, 1, 30),
        utc(2026, 10, 25, 2),
    ]
    spring = runs("*/30 * * * *", BERLIN, utc(2026, 3, 29, 0, 15), 3)
    assert spring == [utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1), utc(2026, 3, 29, 1, 30)]
    assert runs("@hourly", BERLIN, utc(2026, 10, 24, 23, 30), 3) == [
        utc(2026, 10, 25, 0),
        utc(2026, 10, 25, 1),
        utc(2026, 10, 25, 2),
    ]


def test_seconds_aliases_and_other_zones() -> None:
    assert runs("*/20 * * * * *", "UTC", utc(2026, 5, 1, 12, 0, 5), 3) == [
        utc(2026, 5, 1, 12, 0, 20),
        utc(2026, 5, 1, 12, 0, 40),
        utc(2026, 5, 1, 12, 1),
    ]
    assert runs("@daily", "America/New_York", utc(2026, 3, 7, 12), 2) == [utc(2026, 3, 8, 5), utc(2026, 3, 9, 4)]
    # Half-hour offsets and a half-hour DST change (Lord Howe Island: +11:00 in summer, +10:30 in winter).
    assert runs("0 3 * * *", "Asia/Kolkata", utc(2026, 1, 1), 1) == [utc(2026, 1, 1, 21, 30)]
    assert runs("0 3 * * *", "Australia/Lord_Howe", utc(2026, 4, 3), 3) == [
        utc(2026, 4, 3, 16),  # 03:00 +11:00 on the 4th
        utc(2026, 4, 4, 16, 30),  # 03:00 +10:30 on the 5th (clocks went back half an hour at 02:00)
        utc(2026, 4, 5, 16, 30),
    ]
    # Runs are strictly after `after`, never at it.
    assert runs("0 9 * * *", "UTC", utc(2026, 1, 1, 9), 1) == [utc(2026, 1, 2, 9)]
    cron_ = cron.parse("0 9 * * mon-fri", BERLIN)
    assert cron.smallest_gap(cron_, utc(2026, 1, 1)) is not None


@pytest.mark.parametrize(
    ("expression", "timezone", "field"),
    [
        ("61 * * * *", "UTC", "cron"),
        ("0 9 * *", "UTC", "cron"),
        ("0 9 * * * * *", "UTC", "cron"),
        ("", "UTC", "cron"),
        ("@reboot", "UTC", "cron"),
        ("0 9 31 2 *", "UTC", "cron"),
        ("0 9 * * *", "Mars/Olympus", "timezone"),
        ("0 9 * * *", "../../etc/passwd", "timezone"),
        ("0 9 * * *", "", "timezone"),
    ],
)
def test_invalid_expressions_and_zones_name_their_field(expression: str, timezone: str, field: str) -> None:
    with pytest.raises(cron.CronError) as raised:
        cron.parse(expression, timezone)
    assert raised.value.field == field and raised.value.message
