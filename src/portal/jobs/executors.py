"""The Executor interface (submit, cancel, shutdown) and the process's current executor: owned by the jobs domain,
which calls it; the executors in `portal.execution` implement it and are installed at start-up."""

from __future__ import annotations

from typing import Any, Protocol

from portal.duties import DutyFunction
from portal.jobs.schemas import Precheck, Verdict


class Executor(Protocol):
    def start(self) -> None: ...

    def submit(self, job_id: int, queue: str = "default", priority: int = 0) -> None:
        """A job was committed as QUEUED: run it when a slot (of a worker listening to `queue`) is free."""

    def cancel(self, job_id: int, running: bool = True) -> None:
        """A job was cancelled: kill its child wherever it runs or, when it was queued, drop its message."""

    def shutdown(self) -> None: ...

    def checks(self) -> dict[str, str]:
        """The services it depends on, each "ok" or what is wrong (for /readyz)."""

    def queue_depths(self, queues: list[str]) -> dict[str, int | None]:
        """Messages waiting in the broker per queue (empty when there is no broker: the jobs table is the queue)."""

    def isolation(self) -> list[dict[str, Any]]:
        """The protections of the jobs this process runs ({name, on, detail}); empty when it runs none."""

    def duties(self) -> list[tuple[str, float, DutyFunction]]:
        """Its periodic duties (name, period in seconds, function), run by the process's duty runner."""

    def precheck(self, check: Precheck) -> Verdict:
        """Run the item's `validate(inputs)` in the job sandbox, before a job is created (see Verdict)."""


class NullExecutor:
    """For processes that run no jobs (the CLI): queued jobs wait for a `portal serve` to pick them up."""

    def start(self) -> None:
        return None

    def submit(self, job_id: int, queue: str = "default", priority: int = 0) -> None:
        return None

    def cancel(self, job_id: int, running: bool = True) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def checks(self) -> dict[str, str]:
        return {}

    def queue_depths(self, queues: list[str]) -> dict[str, int | None]:
        return {}

    def isolation(self) -> list[dict[str, Any]]:
        return []

    def duties(self) -> list[tuple[str, float, DutyFunction]]:
        return []

    def precheck(self, check: Precheck) -> Verdict:
        return Verdict("unchecked", "this process runs no jobs")


_current: Executor = NullExecutor()


def current() -> Executor:
    return _current


def set_current(executor: Executor) -> None:
    global _current
    _current = executor
