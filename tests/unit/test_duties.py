"""The duty runner: each duty on its own period, a failing one not holding up the others, sooner when asked."""

from __future__ import annotations

import threading
import time

import pytest

from portal.duties import DutyRunner


def test_each_due_duty_runs_once_and_then_waits_for_its_period() -> None:
    calls: list[str] = []
    runner = DutyRunner()
    runner.add("often", 1.0, lambda: calls.append("often"))
    runner.add("rarely", 3600.0, lambda: calls.append("rarely"), first_after=3600.0)
    now = time.monotonic()
    next_due = runner.run_due(now)
    assert calls == ["often"]
    assert now < next_due <= time.monotonic() + 1.0
    runner.run_due(now)  # nothing is due again at the same instant
    assert calls == ["often"]


def test_a_failing_duty_does_not_stop_the_others_and_is_retried_soon() -> None:
    calls: list[str] = []

    def broken() -> None:
        calls.append("broken")
        raise RuntimeError("the database is away")

    runner = DutyRunner()
    runner.add("broken", 3600.0, broken)
    runner.add("healthy", 3600.0, lambda: calls.append("healthy"))
    next_due = runner.run_due(time.monotonic())
    assert calls == ["broken", "healthy"]
    assert next_due <= time.monotonic() + 1.0  # retried within a second, not after its hour


def test_a_duty_may_ask_to_run_sooner_but_never_later_than_its_period() -> None:
    runner = DutyRunner()
    runner.add("soon", 3600.0, lambda: 0.0)
    assert runner.run_due(time.monotonic()) <= time.monotonic()
    late = DutyRunner()
    late.add("late", 5.0, lambda: 99_999.0)
    assert late.run_due(time.monotonic()) <= time.monotonic() + 5.0


def test_wake_runs_a_duty_at_once_in_the_runner_thread() -> None:
    ran = threading.Event()
    runner = DutyRunner("test-duties")
    runner.add("woken", 3600.0, ran.set, first_after=3600.0)
    runner.start()
    try:
        assert not ran.wait(0.2)
        runner.wake("woken")
        assert ran.wait(10)
    finally:
        runner.stop()


def test_a_duty_name_is_added_once() -> None:
    runner = DutyRunner()
    runner.add("one", 1.0, lambda: None)
    with pytest.raises(ValueError, match="already"):
        runner.add("one", 1.0, lambda: None)
