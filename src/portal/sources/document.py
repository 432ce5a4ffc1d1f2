"""The sources document (`apiVersion: portal/v1`, `kind: CatalogSources`): its model, canonical form and hash.

Every level refuses unknown fields and coerces no types (a string is not a number, nor a boolean). Values are
checked by `validation` (ids, URL schemes, folders, intervals), not here: the model only says what shape the
document has, so that each problem is reported by the layer that owns it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

API_VERSION = "portal/v1"
KIND = "CatalogSources"
DEFAULT_TAGS = "*@*"
DEFAULT_GIT_PATH = "items"
DEFAULT_POLL_SECONDS = 300
MAX_SOURCES = 500

# Strict (no coercion), closed (no unknown field), and described in the OpenAPI document as clients send it.
_STRICT = ConfigDict(extra="forbid", strict=True, json_schema_mode_override="validation")


class SourceCredentials(BaseModel):
    """A reference to an admin secret: a token for HTTPS, a private key for SSH. Never the credential itself."""

    model_config = _STRICT

    secret: str = Field(description="the name of an admin secret", examples=["CATALOG_DEPLOY_TOKEN"])


class GitSource(BaseModel):
    """Items from the tags of a Git repository."""

    model_config = _STRICT

    id: str = Field(description="unique; lower-case letters, digits, '_' and '-'", examples=["platform"])
    type: Literal["git"]
    url: str = Field(description="https:// or ssh:// (or user@host:path)", examples=["https://git.example.com/c.git"])
    tags: str = Field(default=DEFAULT_TAGS, description="which tags count, as a glob of item-id@version")
    path: str = Field(default=DEFAULT_GIT_PATH, description="the folder of items inside the repository")
    credentials: SourceCredentials | None = None
    poll_seconds: int = Field(default=DEFAULT_POLL_SECONDS, description="60 to 86400, or 0: never polled")
    webhook: bool = Field(default=False, description="whether its push webhook is accepted")
    enabled: bool = True


class FolderSource(BaseModel):
    """Items from a folder under the allowed roots (PORTAL_CATALOG_LOCAL_ROOTS)."""

    model_config = _STRICT

    id: str = Field(description="unique; lower-case letters, digits, '_' and '-'", examples=["examples"])
    type: Literal["folder"]
    path: str = Field(description="absolute, or relative to an allowed root", examples=["/srv/catalog"])
    poll_seconds: int = Field(default=DEFAULT_POLL_SECONDS, description="60 to 86400, or 0: never polled")
    development: bool = Field(default=False, description="run versions straight from the folder (edits apply)")
    enabled: bool = True


Source = Annotated[GitSource | FolderSource, Field(discriminator="type")]


class SourcesDocument(BaseModel):
    """All the catalog's sources, as one document."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_mode_override="validation",
        json_schema_extra={
            "examples": [
                {
                    "apiVersion": API_VERSION,
                    "kind": KIND,
                    "sources": [
                        {
                            "id": "platform",
                            "type": "git",
                            "url": "https://git.example.com/platform/catalog.git",
                            "tags": "*@*",
                            "path": "items",
                            "credentials": {"secret": "CATALOG_DEPLOY_TOKEN"},
                            "poll_seconds": 300,
                            "webhook": True,
                            "enabled": True,
                        },
                        {"id": "local", "type": "folder", "path": "/srv/catalog", "poll_seconds": 0},
                    ],
                }
            ]
        },
    )

    apiVersion: Literal["portal/v1"]
    kind: Literal["CatalogSources"]
    sources: list[Source] = Field(default_factory=list, max_length=MAX_SOURCES)


def empty() -> dict[str, Any]:
    """The document when no revision was saved: no sources."""
    return {"apiVersion": API_VERSION, "kind": KIND, "sources": []}


def canonical_json(content: dict[str, Any]) -> str:
    """One spelling of a document: sorted keys, no spaces (what its hash is taken of)."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(content: dict[str, Any]) -> str:
    """sha256 of the canonical JSON: the revision's identity and the ETag."""
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def normalized(document: SourcesDocument) -> dict[str, Any]:
    """The stored form: every field spelled out, defaults included, in the model's order."""
    return document.model_dump(mode="json")


def to_yaml(content: dict[str, Any]) -> str:
    """The document as YAML, fields in the model's order (what `portal sources export` prints and diffs show)."""
    return yaml.safe_dump(content, sort_keys=False, allow_unicode=True, default_flow_style=False)
