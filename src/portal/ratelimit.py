"""Per-user rate limits (job submission, job control, bulk calls): a sliding one-minute window in this process.

Limits protect the system from a runaway script or a stuck button, not from an attacker with many API nodes;
in the distributed mode each API node applies them on its own.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from portal.errors import RateLimited

WINDOW_SECONDS = 60.0


class RateLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, int], deque[float]] = {}

    def check(self, bucket: str, user_id: int, per_minute: int, now: float | None = None, cost: int = 1) -> None:
        """Count a call worth `cost` (at most the whole minute's allowance), or raise RateLimited (429,
        Retry-After) when it would take the user beyond `per_minute` in the window."""
        now = time.monotonic() if now is None else now
        cost = max(1, min(cost, per_minute))
        with self._lock:
            calls = self._calls.setdefault((bucket, user_id), deque())
            while calls and calls[0] <= now - WINDOW_SECONDS:
                calls.popleft()
            if len(calls) + cost > per_minute:
                oldest = calls[len(calls) + cost - per_minute - 1]  # the one whose expiry makes room
                wait = max(1, math.ceil(oldest + WINDOW_SECONDS - now))
                raise RateLimited(f"too many {bucket} requests: at most {per_minute} a minute", retry_after=wait)
            calls.extend([now] * cost)

    def reset(self) -> None:
        """Forget every call counted so far."""
        with self._lock:
            self._calls.clear()


limiter = RateLimiter()
