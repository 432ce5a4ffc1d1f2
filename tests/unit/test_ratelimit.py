"""The per-user sliding window: a call may be worth several (a bulk retry of many jobs)."""

from __future__ import annotations

import pytest

from portal.errors import RateLimited
from portal.ratelimit import RateLimiter


def test_a_costly_call_takes_its_share_and_waits_for_room() -> None:
    limiter = RateLimiter()
    limiter.check("job submission", 1, 5, now=0.0, cost=3)
    with pytest.raises(RateLimited) as refused:
        limiter.check("job submission", 1, 5, now=10.0, cost=3)  # 3 + 3 > 5
    assert refused.value.details == {"retry_after": 50}  # the first three leave the window at 60 s
    limiter.check("job submission", 1, 5, now=10.0, cost=2)  # what is left fits
    limiter.check("job submission", 2, 5, now=10.0, cost=5)  # another user has their own window
    limiter.check("job submission", 1, 5, now=60.5, cost=3)
    # A call worth more than the whole allowance costs the allowance: it can succeed in an empty window.
    limiter.check("bulk", 1, 5, now=0.0, cost=200)
