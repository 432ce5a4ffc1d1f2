"""The job state machine: the states and the transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    # The item's `validate` refused the inputs when the job ran (launch-time validation could not run first): the
    # task never ran, so it is neither a failure in the statistics nor something a retry could change.
    REJECTED = "REJECTED"


TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING_APPROVAL: frozenset({JobState.QUEUED, JobState.CANCELLED}),
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    # RUNNING -> QUEUED: the reaper re-queues a job of an idempotent item whose worker was lost.
    JobState.RUNNING: frozenset(
        {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.REJECTED, JobState.QUEUED}
    ),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.REJECTED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A change of state the graph does not have: a bug in the caller, refused before anything is written."""


def check_edge(source: JobState, target: JobState) -> None:
    """Refuse a move the state graph does not have (IllegalTransition)."""
    if target not in TRANSITIONS[source]:
        raise IllegalTransition(f"{source.value} -> {target.value} is not an edge of the job state graph")


FINISHED = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.REJECTED})
ACTIVE = frozenset({JobState.PENDING_APPROVAL, JobState.QUEUED, JobState.RUNNING})
RETRYABLE = frozenset({JobState.FAILED, JobState.CANCELLED})
CANCELLABLE = ACTIVE
