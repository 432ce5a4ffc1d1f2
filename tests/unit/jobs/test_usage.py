"""The run-time histogram of the daily usage: every duration falls in one bucket, buckets follow each other, and
the figure a bucket stands for is within 10 % of anything in it."""

from __future__ import annotations

from collections import Counter

from portal.admin.analytics import percentile
from portal.jobs.usage import bucket_middle, bucket_of, bucket_upper


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
    histogram = Counter(bucket_of(ms) for ms in durations)
    assert percentile(histogram, 0.5) == bucket_middle(bucket_of(100))
    assert percentile(histogram, 0.95) == bucket_middle(bucket_of(1000))
    assert percentile(histogram, 0.96) == bucket_middle(bucket_of(60_000))
    assert percentile(Counter(), 0.5) is None
