"""The job state machine matches the contract of DESIGN.md."""

from __future__ import annotations

from portal.jobs.states import FINISHED, TRANSITIONS, JobState


def test_transitions() -> None:
    assert TRANSITIONS[JobState.PENDING_APPROVAL] == {JobState.QUEUED, JobState.CANCELLED}
    assert TRANSITIONS[JobState.QUEUED] == {JobState.RUNNING, JobState.CANCELLED}
    assert TRANSITIONS[JobState.RUNNING] == {
        JobState.SUCCEEDED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.REJECTED,
        JobState.QUEUED,
    }
    for state in FINISHED:
        assert TRANSITIONS[state] == frozenset()
