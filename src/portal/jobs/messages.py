"""What the job service announces on the event bus, as models: a job's new row (`job.updated`) and a batch of its
log lines (`job.log`). The WebSocket streams forward them to browsers as they are (portal.realtime.messages adds
the stream's own ping and exports them all through the OpenAPI document), so these models are the wire format.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from portal.jobs.schemas import JobOut

JOB_UPDATED = "job.updated"

# The server always sends `type`: the schema says so, and the browser's generated types can narrow on it.
ALWAYS_SENT = ConfigDict(json_schema_serialization_defaults_required=True)


class JobUpdatedMessage(BaseModel):
    """A job changed: its whole summary row, with the revision it reached (the browsers drop older ones)."""

    model_config = ALWAYS_SENT

    type: Literal["job.updated"] = "job.updated"
    job: JobOut
    rev: int = Field(description="the job's revision after this change; the same as job.rev")


class StreamedLogLine(BaseModel):
    """A stored log line as streamed: its id joins the stream with what `/api/jobs/{id}/logs` returned."""

    id: int
    stream: str
    line: str


class JobLogMessage(BaseModel):
    """A batch of a running job's log lines, in the order they were stored."""

    model_config = ALWAYS_SENT

    type: Literal["job.log"] = "job.log"
    job_id: int
    created_by: int | None = Field(description="the job's owner: who may see its lines")
    lines: list[StreamedLogLine]
    at: datetime
