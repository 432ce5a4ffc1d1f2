"""What the sources announce on the event bus: a source's status changed (a refresh was asked for, or ended).
The WebSocket streams forward it to admins as it is (portal.realtime.messages exports it through the OpenAPI
document with the job messages), so this model is the wire format."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from portal.sources.schemas import SourceStatus


class SourcesUpdatedMessage(BaseModel):
    """A source's status changed: its whole status, as `GET /api/admin/sources` shows it."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    type: Literal["sources.updated"] = "sources.updated"
    source_id: str
    status: SourceStatus
