"""The one thread per process that does the periodic duties: heartbeats, reaping, approvals, recovery, the
scheduler's ticks, sweeps. `bootstrap` (or the worker command) fills it for the process's mode.

Each duty runs on its own schedule and on its own: one that fails (the database is away) is retried about every
second without holding up the others, and logged at most every half minute. A duty may ask to run again sooner
than its period (the scheduler, when its next tick is due), and anything may wake a duty at once (a schedule
changed in this process).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0
LOG_EVERY_SECONDS = 30.0

DutyFunction = Callable[[], float | None]
"""Does the duty once; may return how many seconds until it wants to run again (at most its period)."""


@dataclass
class _Duty:
    name: str
    every: float
    run: DutyFunction
    due: float = 0.0
    woken: bool = False  # woken while it ran: it runs again at once
    logged: float = -LOG_EVERY_SECONDS


class DutyRunner:
    """Runs named duties, each every `every` seconds, in one daemon thread."""

    def __init__(self, name: str = "duties") -> None:
        self.name = name
        self._duties: dict[str, _Duty] = {}
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def names(self) -> list[str]:
        return list(self._duties)

    def add(self, name: str, every: float, run: DutyFunction, *, first_after: float = 0.0) -> None:
        """Run `run` every `every` seconds, the first time `first_after` seconds from now."""
        if name in self._duties:
            raise ValueError(f"duty {name} is already added")
        self._duties[name] = _Duty(name, every, run, due=time.monotonic() + first_after)

    def wake(self, name: str) -> None:
        """Run a duty at once (from any thread), not waiting for its period."""
        with self._wake:
            duty = self._duties.get(name)
            if duty is not None:
                duty.due, duty.woken = 0.0, True
                self._wake.notify()

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the duty running now, if any."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def run_due(self, now: float) -> float:
        """Run every duty that is due at `now`; the time the next one is due."""
        for duty in list(self._duties.values()):
            if self._stopping:
                break
            if duty.due > now:
                continue
            with self._wake:
                duty.woken = False
            try:
                wanted = duty.run()
                pause = duty.every if wanted is None else max(0.0, min(wanted, duty.every))
            except Exception:
                pause = min(RETRY_SECONDS, duty.every)
                current = time.monotonic()
                if current - duty.logged >= LOG_EVERY_SECONDS:
                    log.exception("duty %s failed (retried every %g s)", duty.name, pause)
                    duty.logged = current
            with self._wake:
                if not duty.woken:
                    duty.due = time.monotonic() + pause
        return min((d.due for d in self._duties.values()), default=now + 60.0)

    def _loop(self) -> None:
        while not self._stopping:
            next_due = self.run_due(time.monotonic())
            with self._wake:
                wait = min([next_due, *(d.due for d in self._duties.values())]) - time.monotonic()
                if not self._stopping and wait > 0:
                    self._wake.wait(wait)
