"""Users and their passwords: create, list, change, disable, reset; the first admin; logging out.

Who a request is (sessions, tokens, the cache of verified principals) is `auth.credentials`; API tokens are
`auth.tokens`; logging in (with its throttle) is `auth.logins`."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, or_, select, update
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.auth import passwords
from portal.auth.credentials import credentials_changed, secret_digest
from portal.auth.models import AuthSession, User
from portal.auth.schemas import UserOut
from portal.db import session as db
from portal.errors import Conflict, NotFound, ValidationFailed
from portal.identity.principal import Principal
from portal.identity.roles import Role

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}\Z")
INITIAL_PASSWORD_FILE = "initial-admin-password"  # noqa: S105 (a file name)


def _user_view(user: User) -> UserOut:
    return UserOut.model_validate(user)


def _names_of(user_id: int) -> tuple[str, ...]:
    with db.read() as s:
        row = s.execute(select(User.username, User.display_name).where(User.id == user_id)).first()
    return (row.username, row.display_name) if row else ()


def create_user(
    actor: Principal, username: str, role: str, password: str | None = None, display_name: str = ""
) -> tuple[UserOut, str | None]:
    """Create a user; returns the view and the generated password when none was given."""
    problems = []
    if not USERNAME_RE.match(username):
        problems.append({"field": "username", "message": "2-64 characters: lowercase letters, digits, . _ -"})
    try:
        Role.parse(role)
    except ValueError as exc:
        problems.append({"field": "role", "message": str(exc)})
    generated = None
    if password is None:
        password = generated = passwords.generate()
    else:
        problems += passwords.problems(password, user_inputs=(username, display_name))
    if problems:
        raise ValidationFailed("invalid user", details=problems)
    password_hash = passwords.hash_password(password)  # before the write transaction: argon2 is slow on purpose
    with db.write() as s:
        if s.scalar(select(User.id).where(User.username == username)) is not None:
            raise Conflict(f"user {username!r} already exists", details={"field": "username"})
        user = User(username=username, role=role, password_hash=password_hash, display_name=display_name)
        s.add(user)
        s.flush()
        audit.record(s, actor, "user.create", target_type="user", target_id=username, details={"role": role})
        view = _user_view(user)
    return view, generated


def list_users(*, q: str | None = None, role: str | None = None, disabled: bool | None = None) -> list[UserOut]:
    """Users by username; `q` matches part of the username or display name."""
    query = select(User).order_by(User.username)
    if q:
        needle = q.lower()
        query = query.where(
            or_(
                User.username.contains(needle, autoescape=True),
                func.lower(User.display_name).contains(needle, autoescape=True),
            )
        )
    if role:
        query = query.where(User.role == role)
    if disabled is not None:
        query = query.where(User.disabled.is_(disabled))
    with db.read() as s:
        return [_user_view(u) for u in s.scalars(query)]


def get_user(user_id: int) -> UserOut:
    with db.read() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        return _user_view(user)


def _end_sessions(s: Session, user_id: int, keep_secret: str | None = None) -> int:
    """Delete a user's browser sessions (but the one of `keep_secret`); returns how many ended."""
    statement = delete(AuthSession).where(AuthSession.user_id == user_id)
    if keep_secret:
        statement = statement.where(AuthSession.id_hash != secret_digest(keep_secret))
    return cast(CursorResult[Any], s.execute(statement)).rowcount


def _keep_an_admin(s: Session, actor: Principal, user: User) -> None:
    """Refuse to disable or demote the last enabled admin, or an admin's own account (no lock-outs)."""
    # FOR UPDATE: two admins demoting each other at once on PostgreSQL must not leave none (SQLite writes serialize).
    admins = select(User.id).where(User.role == Role.admin.name, User.disabled.is_(False)).with_for_update()
    if set(s.scalars(admins)) <= {user.id}:
        raise Conflict(
            f"{user.username} is the last enabled admin: make another user admin first", details={"rule": "last_admin"}
        )
    if user.id == actor.id:
        raise Conflict("admins cannot disable or demote themselves: another admin must", details={"rule": "self"})


def update_user(
    actor: Principal,
    user_id: int,
    *,
    role: str | None = None,
    disabled: bool | None = None,
    display_name: str | None = None,
) -> UserOut:
    """Change a user's role, display name or disabled flag (None: unchanged), audited with before and after.

    Both apply at once to the user's sessions and tokens; disabling also ends their sessions.
    """
    if role is not None:
        try:
            Role.parse(role)
        except ValueError as exc:
            raise ValidationFailed("invalid user", details=[{"field": "role", "message": str(exc)}]) from None
    with db.write() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        after = {
            field: value
            for field, value in (("role", role), ("display_name", display_name))
            if value is not None and value != getattr(user, field)
        }
        toggled = disabled is not None and disabled != user.disabled
        if user.role == Role.admin.name and not user.disabled and ("role" in after or (toggled and disabled)):
            _keep_an_admin(s, actor, user)
        if after:
            before = {field: getattr(user, field) for field in after}
            for field, value in after.items():
                setattr(user, field, value)
            details = {"before": before, "after": after}
            audit.record(s, actor, "user.update", target_type="user", target_id=user.username, details=details)
        if toggled:
            user.disabled = bool(disabled)
            change: dict[str, Any] = {"before": {"disabled": not user.disabled}, "after": {"disabled": user.disabled}}
            if user.disabled:
                change["sessions_ended"] = _end_sessions(s, user.id)
            action = "user.disable" if user.disabled else "user.enable"
            audit.record(s, actor, action, target_type="user", target_id=user.username, details=change)
        s.flush()
        view = _user_view(user)
    if after or toggled:
        credentials_changed(user_id)
    return view


def reset_password(actor: Principal, user_id: int, password: str | None = None) -> str | None:
    """Set another user's password and end their sessions; returns the password when it was generated."""
    if user_id == actor.id:
        raise Conflict("change your own password with POST /api/auth/password", details={"rule": "self"})
    generated = None
    if password is None:
        password = generated = passwords.generate()
    elif problems := passwords.problems(password, user_inputs=_names_of(user_id)):
        raise ValidationFailed("invalid password", details=problems)
    password_hash = passwords.hash_password(password)  # before the write transaction: argon2 is slow on purpose
    with db.write() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        user.password_hash = password_hash
        details = {"generated": generated is not None, "sessions_ended": _end_sessions(s, user.id)}
        audit.record(s, actor, "user.password_reset", target_type="user", target_id=user.username, details=details)
    credentials_changed(user_id)
    return generated


def change_password(principal: Principal, current: str, new: str, keep_session: str | None) -> None:
    """Change the caller's own password; their other sessions end, the session `keep_session` stays."""
    with db.read() as s:
        user = s.get(User, principal.id) if principal.id is not None else None
    if user is None:
        raise NotFound(f"user {principal.username!r} not found")
    problems = passwords.problems(new, "new_password", (user.username, user.display_name))
    if not passwords.verify(user.password_hash, current):
        problems.insert(0, {"field": "current_password", "message": "wrong password"})
    elif not problems and new == current:
        problems.append({"field": "new_password", "message": "must differ from the current password"})
    if problems:
        raise ValidationFailed("the password was not changed", details=problems)
    password_hash = passwords.hash_password(new)
    with db.write() as s:
        s.execute(update(User).where(User.id == user.id).values(password_hash=password_hash))
        details = {"sessions_ended": _end_sessions(s, user.id, keep_session)}
        audit.record(s, principal, "user.password_change", target_type="user", target_id=user.username, details=details)
    credentials_changed(user.id)


def count_users() -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count(User.id))) or 0)


def ensure_initial_admin(data_dir: Path) -> str | None:
    """With no users at all, create `admin` with a random password, write it to the data dir and return it."""
    if count_users() > 0:
        return None
    password = passwords.generate()
    system = Principal(id=None, username="system", role=Role.admin, via="system")
    try:
        create_user(system, "admin", Role.admin.name, password, display_name="Administrator")
    except Conflict:
        return None  # another process created it first
    path = data_dir / INITIAL_PASSWORD_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    return password


def logout(principal: Principal, session_secret: str) -> None:
    with db.write() as s:
        s.execute(delete(AuthSession).where(AuthSession.id_hash == secret_digest(session_secret)))
        audit.record(s, principal, "auth.logout", target_type="user", target_id=principal.username)
    credentials_changed(principal.id)


def user_ids_matching(s: Session, q: str) -> list[int]:
    """Ids of users whose username contains `q` (used by job search)."""
    return list(s.scalars(select(User.id).where(User.username.like(f"%{q.lower()}%"))))
