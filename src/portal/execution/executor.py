"""The Executor interface (submit, cancel, shutdown) and the process's current executor."""

from __future__ import annotations

from typing import Protocol


class Executor(Protocol):
    def start(self) -> None: ...

    def submit(self, job_id: int) -> None:
        """A job was committed as QUEUED: run it when a slot is free."""

    def cancel(self, job_id: int) -> None:
        """A running job was asked to stop: kill its child if it runs here."""

    def shutdown(self) -> None: ...


class NullExecutor:
    """For processes that run no jobs (the CLI): queued jobs wait for a `portal serve` to pick them up."""

    def start(self) -> None:
        return None

    def submit(self, job_id: int) -> None:
        return None

    def cancel(self, job_id: int) -> None:
        return None

    def shutdown(self) -> None:
        return None


_current: Executor = NullExecutor()


def current() -> Executor:
    return _current


def set_current(executor: Executor) -> None:
    global _current
    _current = executor
