"""An example request and response body for every operation of the OpenAPI document, so that Swagger UI and the
API reference show what to send and what comes back.

Examples written on a model or field (`Field(examples=[...])`, an operation's `openapi_examples`) come first;
the rest of a body is filled from its schema: a field's example, default, constant or first choice, else a value
that fits its type, format and name. A test checks that every example is valid against its own schema, so an
example cannot drift from what the API accepts and returns.
"""

from __future__ import annotations

import copy
import re
from typing import Any

_JSON = "application/json"
_MAX_DEPTH = 8
# Plausible values by field name, where a type alone would say little ("string", 0).
_BY_NAME: dict[str, Any] = {
    "item_id": "backup-config",
    "version": "2.0.0",
    "item_version": "2.0.0",
    "username": "alice",
    "created_by_name": "alice",
    "actor": "alice",
    "display_name": "Alice Martin",
    "role": "requester",
    "name": "nightly-backup",
    "password": "correct horse battery staple",
    "current_password": "correct horse battery staple",
    "new_password": "a new passphrase of 12+",
    "message": "succeeded",
    "description": "Copies the running configuration of each device to an S3 bucket.",
    "state": "SUCCEEDED",
    "kind": "catalog_execution",
    "queue": "default",
    "cron": "0 9 * * mon-fri",
    "timezone": "Europe/Berlin",
    "entrypoint": "task.py",
    "bundle_sha256": "3f5e0c2a9d4b7e1f6a8c0d2e4f6a8b0c1d3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a",
    "sha256": "3f5e0c2a9d4b7e1f6a8c0d2e4f6a8b0c1d3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a",
    "repo_url": "https://git.example.com/platform/catalog.git",
    "ref": "main",
    "path": "items/backup-config/2.0.0",
    "request_id": "0f6b8a3c2d1e4f5a9b7c6d5e4f3a2b1c",
    "category": "network",
    "owner": "network-team",
    "from_state": "QUEUED",
    "to_state": "RUNNING",
    "decision": "approve",
    "comment": "Checked with the network team",
    "error_type": "ValueError",
    "inputs": {"devices": ["router-1", "switch-2"], "bucket": "network-backups"},
    "result": {"bucket": "network-backups", "device_count": 2},
}
# Tried in turn for a string field with a pattern the value by name or format does not match.
_PATTERNED = ("DEPLOY_TOKEN", "backup-config", "2.0.0", "alice", "default", _BY_NAME["sha256"], "text")
_BY_FORMAT = {
    "date-time": "2026-12-04T09:30:00Z",
    "date": "2026-12-04",
    "time": "09:30:00",
    "email": "alice@example.com",
    "uri": "https://portal.example.com/",
    "password": "correct horse battery staple",
    "binary": "",
}


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        found = components.get(ref.rsplit("/", 1)[-1])
        return found if isinstance(found, dict) else {}
    return schema


def sample(schema: Any, components: dict[str, Any], name: str = "", depth: int = 0) -> Any:
    """A value that fits `schema` (see the module's docstring for where it comes from)."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    schema = _resolve(schema, components)
    for key in ("examples", "example"):
        if key in schema:
            found = schema[key]
            if key == "examples" and isinstance(found, list) and found:
                return copy.deepcopy(found[0])
            if key == "example":
                return copy.deepcopy(found)
    if "const" in schema:
        return schema["const"]
    if "default" in schema and schema["default"] is not None:
        return copy.deepcopy(schema["default"])
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        choices = [c for c in schema.get(key, []) if _resolve(c, components).get("type") != "null"]
        if choices:
            return sample(choices[0], components, name, depth + 1)
        if key in schema:
            return None
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = sample(part, components, name, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
            elif value is not None:
                return value
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if isinstance(_BY_NAME.get(name), dict) and (kind in (None, "object") and "properties" not in schema):
        return copy.deepcopy(_BY_NAME[name])  # a free-form object (a job's inputs or result)
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {key: sample(spec, components, key, depth + 1) for key, spec in properties.items()}
    if kind == "array":
        item = sample(schema.get("items", {}), components, name, depth + 1)
        return [] if item is None else [item] * max(1, int(schema.get("minItems", 1)))
    if kind == "string":
        return _string(schema, name)
    if kind == "integer":
        return _number(schema, 1 if name in ("page", "attempt") else 42)
    if kind == "number":
        return _number(schema, 1.5)
    if kind == "boolean":
        return True
    return None


def _string(schema: dict[str, Any], name: str) -> str:
    if name in _BY_NAME and isinstance(_BY_NAME[name], str):
        value = str(_BY_NAME[name])
    else:
        value = _BY_FORMAT.get(str(schema.get("format")), "text")
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and not _matches(pattern, value):
        value = next((v for v in _PATTERNED if _matches(pattern, v)), value)
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    if len(value) < low:
        value = value + "x" * (low - len(value))
    if high is not None and len(value) > int(high):
        value = value[: int(high)]
    return value


def _matches(pattern: str, value: str) -> bool:
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return True  # a pattern Python cannot read: keep the value


def _number(schema: dict[str, Any], preferred: float) -> Any:
    value = preferred
    for low in ("minimum", "exclusiveMinimum"):
        if isinstance(schema.get(low), int | float) and value <= schema[low]:
            value = schema[low] + (1 if low == "exclusiveMinimum" else 0)
    for high in ("maximum", "exclusiveMaximum"):
        if isinstance(schema.get(high), int | float) and value >= schema[high]:
            value = schema[high] - (1 if high == "exclusiveMaximum" else 0)
    return int(value) if schema.get("type") == "integer" else value


def add_examples(document: dict[str, Any]) -> dict[str, Any]:
    """Give every JSON request body and successful JSON response in `document` an example (in place)."""
    components = document.get("components", {}).get("schemas", {})
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            bodies = [operation.get("requestBody", {}).get("content", {}).get(_JSON)]
            for status, response in operation.get("responses", {}).items():
                if str(status).startswith("2"):
                    bodies.append(response.get("content", {}).get(_JSON))
            for body in bodies:
                if isinstance(body, dict) and "schema" in body and "example" not in body and "examples" not in body:
                    body["example"] = sample(body["schema"], components)
    return document
