"""Users, passwords, browser sessions and API tokens."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, and_, bindparam, delete, func, not_, or_, select, update
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.auth import passwords
from portal.auth.models import ApiToken, AuthSession, User
from portal.auth.schemas import TokenOut, TokenPage, UserOut
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict, NotFound, ValidationFailed
from portal.events import bus
from portal.identity.principal import Principal
from portal.identity.roles import Role
from portal.settings import get_settings

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}\Z")
TOKEN_PREFIX = "ptk_"  # noqa: S105 (a prefix, not a secret)
INITIAL_PASSWORD_FILE = "initial-admin-password"  # noqa: S105 (a file name)

# Every request authenticates: these lookups are built once.
_SESSION_LOOKUP = (
    select(User.id, User.username, User.role, User.disabled, AuthSession.csrf_token, AuthSession.expires_at)
    .join(AuthSession, AuthSession.user_id == User.id)
    .where(AuthSession.id_hash == bindparam("id_hash"))
)
_TOKEN_LOOKUP = (
    select(
        ApiToken.id,
        ApiToken.token_hash,
        ApiToken.expires_at,
        ApiToken.revoked_at,
        ApiToken.last_used_at,
        User.id.label("user_id"),
        User.username,
        User.role,
        User.disabled,
    )
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


def secret_digest(value: str) -> str:
    """The sha256 under which a session or token secret is stored (never the secret itself)."""
    return hashlib.sha256(value.encode()).hexdigest()


def _token_view(token: ApiToken, username: str) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        username=username,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
    )


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


class _CredentialCache:
    """Principals of recently verified secrets, keyed by the secret's sha256, for a short time.

    Every request authenticates; this spares the lookup (and a thread hop) for a client's next requests.
    Any change to credentials made in this process (logout, token revocation) clears it at once; a change
    made by another process (say `portal tokens revoke`) takes effect within the time to live.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Principal, datetime | None]] = {}

    def get(self, digest: str) -> Principal | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        fresh_until, principal, expires_at = entry
        if time.monotonic() > fresh_until or (expires_at is not None and expires_at <= utcnow()):
            self._entries.pop(digest, None)
            return None
        return principal

    def put(self, digest: str, principal: Principal, expires_at: datetime | None, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            if len(self._entries) > _CACHE_ENTRIES:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + ttl, principal, expires_at)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_CACHE_ENTRIES = 10_000
_credentials = _CredentialCache()


def credentials_changed(user_id: int | None) -> None:
    """Call after any change to who may do what (logout, revocation, a disabled user, a new role, a password):
    this process forgets the principals it verified, and every node hears it on the bus (their caches too, and
    their WebSocket streams of that user recheck their credentials at once)."""
    _credentials.clear()
    bus.publish({"type": bus.AUTH_CHANGED, "user_id": user_id})


def follow_credential_changes(message: dict[str, Any]) -> None:
    """A bus listener: a change made on another node empties this one's cache of verified principals."""
    if message.get("type") == bus.AUTH_CHANGED:
        _credentials.clear()


def cached_principal(token: str | None, session_secret: str | None) -> Principal | None:
    """A principal verified moments ago for this bearer token or session cookie, without any I/O."""
    secret = token if token is not None else session_secret
    return _credentials.get(secret_digest(secret)) if secret else None


def principal_from_session(secret: str) -> Principal | None:
    with db.read() as s:
        row = s.execute(_SESSION_LOOKUP, {"id_hash": secret_digest(secret)}).first()
    if row is None or row.disabled or row.expires_at <= utcnow():
        return None
    principal = Principal(
        id=row.id, username=row.username, role=Role.parse(row.role), via="session", csrf_token=row.csrf_token
    )
    _credentials.put(secret_digest(secret), principal, row.expires_at, get_settings().auth_cache_seconds)
    return principal


def create_token(actor: Principal, username: str, name: str, expires_days: float | None = None) -> tuple[TokenOut, str]:
    """Create an API token for `username`; the secret is returned once and only its sha256 is stored.

    A token is 256 random bits, so a fast hash is enough (argon2 guards guessable passwords, not random keys)
    and keeps every API request cheap.
    """
    if not name.strip() or len(name) > 100:
        raise ValidationFailed("invalid token", details=[{"field": "name", "message": "1-100 characters"}])
    if username != actor.username and not actor.has(Role.admin):
        raise NotFound(f"user {username!r} not found")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=expires_days) if expires_days else None
    with db.write() as s:
        user = s.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"user {username!r} not found")
        token = ApiToken(
            user_id=user.id,
            name=name.strip(),
            prefix=secret[: len(TOKEN_PREFIX) + 6],
            token_hash=secret_digest(secret),
            expires_at=expires,
        )
        s.add(token)
        s.flush()
        audit.record(
            s,
            actor,
            "token.create",
            target_type="token",
            target_id=token.id,
            details={"user": username, "name": token.name},
        )
        view = _token_view(token, username)
    return view, secret


def list_tokens(principal: Principal, *, all_users: bool = False) -> list[TokenOut]:
    with db.read() as s:
        query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
        if not all_users:
            query = query.where(ApiToken.user_id == principal.id)
        return [_token_view(t, username) for t, username in s.execute(query)]


def list_all_tokens(
    *, username: str | None = None, active: bool | None = None, page: int = 1, page_size: int = 50
) -> TokenPage:
    """Every user's tokens, newest first; `active` keeps those that authenticate now (or, false, the others)."""
    usable = and_(
        ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow()),
        User.disabled.is_(False),
    )
    conditions = []
    if username:
        conditions.append(User.username == username)
    if active is not None:
        conditions.append(usable if active else not_(usable))
    joined = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).where(*conditions)
    with db.read() as s:
        total = s.scalar(select(func.count()).select_from(joined.subquery()))
        rows = s.execute(joined.order_by(ApiToken.id.desc()).limit(page_size).offset((page - 1) * page_size))
        items = [_token_view(token, owner) for token, owner in rows]
    return TokenPage(items=items, total=int(total or 0), page=page, page_size=page_size)


def revoke_token(actor: Principal, token_id: int) -> None:
    """Revoke a token: the caller's own, or anyone's for admins (others' tokens are 404 to non-admins)."""
    with db.write() as s:
        token = s.get(ApiToken, token_id)
        if token is None or (token.user_id != actor.id and not actor.has(Role.admin)):
            raise NotFound(f"token {token_id} not found")
        if token.revoked_at is not None:
            raise Conflict(f"token {token_id} is already revoked")
        token.revoked_at = utcnow()
        owner = s.scalar(select(User.username).where(User.id == token.user_id))
        details = {"name": token.name, "user": owner}
        audit.record(s, actor, "token.revoke", target_type="token", target_id=token_id, details=details)
        owner_id = token.user_id
    credentials_changed(owner_id)


def principal_from_token(secret: str, touch_seconds: float) -> Principal | None:
    """The owner of a valid bearer token; records last use at most once per `touch_seconds`."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    digest = secret_digest(secret)
    with db.read() as s:
        row = s.execute(_TOKEN_LOOKUP, {"token_hash": digest}).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    now = utcnow()
    if row.revoked_at is not None or row.disabled or (row.expires_at is not None and row.expires_at <= now):
        return None
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() >= touch_seconds:
        with db.write() as s:
            s.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    principal = Principal(id=row.user_id, username=row.username, role=Role.parse(row.role), via="token")
    _credentials.put(digest, principal, row.expires_at, get_settings().auth_cache_seconds)
    return principal


def user_ids_matching(s: Session, q: str) -> list[int]:
    """Ids of users whose username contains `q` (used by job search)."""
    return list(s.scalars(select(User.id).where(User.username.like(f"%{q.lower()}%"))))
