"""What the WebSocket streams send, as one discriminated union on `type`: the job service's announcements, the
sources' status changes (to admins on `/ws/jobs`) and the stream's own ping. FastAPI exports only the models its
routes reach, so `add_to_openapi` puts these in the OpenAPI document's `components.schemas` as well: the
browser's types are generated from them like every other type.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from portal.jobs.messages import JobLogMessage, JobUpdatedMessage
from portal.sources.messages import SourcesUpdatedMessage


class PingMessage(BaseModel):
    """Sent when a stream was idle for a while: it keeps proxies from closing it and shows the client it lives."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    type: Literal["ping"] = "ping"


WebSocketMessage = Annotated[
    JobUpdatedMessage | JobLogMessage | SourcesUpdatedMessage | PingMessage, Field(discriminator="type")
]
websocket_message = TypeAdapter(WebSocketMessage)
PING_TEXT = PingMessage().model_dump_json()

_REF = "#/components/schemas/{model}"


def add_to_openapi(document: dict[str, Any]) -> None:
    """Add `WebSocketMessage` and the models it names to the document's schemas. A model that a route already
    exports must come out the same, or the document would say two things about it."""
    # Encoded like FastAPI encodes the rest of the document (it leaves out nulls such as `"default": null`).
    schema = jsonable_encoder(websocket_message.json_schema(mode="serialization", ref_template=_REF), exclude_none=True)
    components: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in schema.pop("$defs", {}).items():
        if components.setdefault(name, definition) != definition:
            raise ValueError(f"the WebSocket messages describe {name} unlike the routes do")
    components["WebSocketMessage"] = schema
