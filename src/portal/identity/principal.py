"""Who is making a request: a plain value object that crosses domain boundaries."""

from __future__ import annotations

from dataclasses import dataclass

from portal.identity.roles import Role


@dataclass(frozen=True)
class Principal:
    id: int | None
    username: str
    role: Role
    via: str = "session"  # session, token, cli, system
    csrf_token: str | None = None

    def has(self, role: Role) -> bool:
        return self.role >= role


SYSTEM = Principal(id=None, username="system", role=Role.admin, via="system")
