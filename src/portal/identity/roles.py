"""Roles, each including the one before it."""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    viewer = 10
    requester = 20
    operator = 30
    publisher = 40
    admin = 50

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name]
        except KeyError:
            raise ValueError(f"unknown role {name!r}; one of: {', '.join(r.name for r in cls)}") from None


ROLE_NAMES = [role.name for role in Role]
