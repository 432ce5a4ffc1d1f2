"""Request and response bodies of the auth API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class LoginRequest(BaseModel):
    # No control characters: no user has them, and the throttle stores the name (PostgreSQL refuses NUL).
    username: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
    password: str = Field(min_length=1, max_length=1024)


class MeOut(BaseModel):
    username: str
    role: str
    via: str
    csrf_token: str | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    display_name: str
    role: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


class UserCreate(BaseModel):
    username: str
    role: str
    password: str | None = Field(default=None, description="omit to generate one (returned once)")
    display_name: str = ""


class UserCreated(BaseModel):
    user: UserOut
    generated_password: str | None


class UserUpdate(BaseModel):
    """The fields an admin may change; omitted (or null) fields stay as they are."""

    model_config = ConfigDict(extra="forbid")
    role: str | None = None
    disabled: bool | None = Field(default=None, description="true ends the user's sessions and refuses their tokens")
    display_name: str | None = Field(default=None, max_length=200)


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(default=None, description="omit to generate one (returned once)")


class PasswordResetDone(BaseModel):
    generated_password: str | None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    prefix: str
    username: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenPage(BaseModel):
    items: list[TokenOut]
    total: int
    page: int
    page_size: int


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    expires_days: float | None = Field(default=None, gt=0, le=3650)


class TokenCreated(BaseModel):
    token: TokenOut
    secret: str = Field(description="shown once; send it as `Authorization: Bearer <secret>`")


class LoginLockOut(BaseModel):
    """A username whose logins are throttled now: locked, or waiting out a back-off."""

    username: str
    known: bool = Field(description="whether a user of that name exists (failures are counted for any name)")
    failures: int = Field(description="failed and refused attempts of the current burst")
    first_failure_at: datetime
    last_failure_at: datetime
    last_client: str = Field(description="the client address of the last attempt")
    locked: bool
    until: datetime | None = Field(description="when the lock or the back-off ends")
