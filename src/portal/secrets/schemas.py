"""Bodies of the secrets API: values go in, never out."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[A-Z_][A-Z0-9_]{0,127}$"


class SecretCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="the environment variable the job receives")
    value: str = Field(min_length=1, max_length=65_536, json_schema_extra={"writeOnly": True})
    description: str = Field(default="", max_length=1000)
    items: list[str] = Field(default_factory=list, description="catalog items granted this secret")


class SecretUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str | None = Field(default=None, min_length=1, max_length=65_536, json_schema_extra={"writeOnly": True})
    description: str | None = Field(default=None, max_length=1000)
    items: list[str] | None = Field(default=None, description="replaces the items granted this secret")


class SecretOut(BaseModel):
    name: str
    description: str
    items: list[str]
    created_by: str
    created_at: datetime
    updated_at: datetime
