"""Bodies of the secrets API: values go in, never out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[A-Z_][A-Z0-9_]{0,127}$"
ITEMS = (
    "the versions granted this secret: `item@<semver range>` (e.g. `backup@^1.2.0`), or a bare `item` for the "
    "versions that exist now (later ones only when the grant is extended)"
)
GrantEntry = Annotated[str, Field(min_length=1, max_length=20_100)]


class SecretCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="the environment variable the job receives")
    value: str = Field(min_length=1, max_length=65_536, json_schema_extra={"writeOnly": True})
    description: str = Field(default="", max_length=1000)
    items: list[GrantEntry] = Field(default_factory=list, max_length=1000, description=ITEMS)


class SecretUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str | None = Field(default=None, min_length=1, max_length=65_536, json_schema_extra={"writeOnly": True})
    description: str | None = Field(default=None, max_length=1000)
    items: list[GrantEntry] | None = Field(default=None, max_length=1000, description=f"replaces the grants: {ITEMS}")


class SecretExtend(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[GrantEntry] = Field(
        min_length=1,
        max_length=1000,
        description="what to add: `item@<range>` adds the range, a bare `item` the versions that exist now",
    )


class UncoveredVersion(BaseModel):
    """A catalog version that declares the secret but that no grant covers: its jobs are refused."""

    item_id: str
    version: str


class SecretOut(BaseModel):
    name: str
    description: str
    items: list[str] = Field(description="each grant as `item@<semver range>`, bare grants with their versions listed")
    uncovered: list[UncoveredVersion] = Field(
        description="versions that declare this secret and that no grant covers (an admin may extend the grants)"
    )
    created_by: str
    created_at: datetime
    updated_at: datetime
