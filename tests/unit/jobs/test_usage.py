"""The usage's blocks and run-time histogram: a period is exactly the union of the few aligned blocks it reads;
every duration falls in one bucket, buckets follow each other, and the figure a bucket stands for is within 10 %
of anything in it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from portal.admin.analytics import percentiles
from portal.jobs.usage import DAY, SPANS, block_of, blocks, bucket_middle, bucket_of, bucket_upper


def test_a_period_is_the_union_of_at_most_21_aligned_blocks() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for offset in range(0, 130, 3):
        first = start + offset * DAY
        for days in (1, 2, 5, 7, 30, 63, 64, 65, 90, 200, 365, 366):
            last = first + days * DAY
            covered: list[datetime] = []
            count = 0
            for span, begin, end in blocks(first, last):
                assert span in SPANS and (end - begin) % (span * DAY) == timedelta(0)
                day = begin
                while day < end:
                    assert block_of(day, span) == day  # each block starts where its span's blocks start
                    covered += [day + n * DAY for n in range(span)]
                    day += span * DAY
                    count += 1
            assert covered == [first + n * DAY for n in range(days)]  # every day once, in order, nothing outside
            assert count <= 21, (first, days, count)


def test_a_day_falls_in_one_block_of_each_span() -> None:
    day = datetime(2026, 12, 5, tzinfo=UTC)
    for span in SPANS:
        begin = block_of(day, span)
        assert begin <= day < begin + span * DAY
        assert block_of(begin + (span - 1) * DAY, span) == begin


def test_buckets_hold_their_durations_and_their_middle_is_within_ten_percent() -> None:
    previous = 0
    for ms in [*range(0, 5000), *range(5000, 10_000_000, 997)]:
        bucket = bucket_of(ms)
        assert bucket >= previous  # longer runs never fall in an earlier bucket
        previous = bucket
        assert ms <= bucket_upper(bucket)
        assert bucket == 0 or ms > bucket_upper(bucket - 1)
        assert abs(bucket_middle(bucket) - ms) <= max(1, 0.1 * ms), ms


def test_percentiles_take_the_nearest_rank() -> None:
    durations = [100] * 50 + [1000] * 45 + [60_000] * 5
    counted = Counter(bucket_of(ms) for ms in durations)
    histogram = [counted[bucket] for bucket in range(max(counted) + 1)]
    middles = [bucket_middle(bucket_of(ms)) for ms in (100, 100, 1000, 60_000, 60_000)]
    assert percentiles(histogram, 0.01, 0.5, 0.95, 0.96, 1.0) == middles
    assert percentiles(histogram, 0.95) == [bucket_middle(bucket_of(1000))]
    assert percentiles([], 0.5) == [None] and percentiles([0, 0], 0.5, 0.95) == [None, None]
