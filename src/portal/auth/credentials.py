"""Who a request is: the principal behind a session cookie or an API token, looked up by the secret's digest and
kept for a moment in a per-process cache that any credential change empties (here, and on every node via the bus)."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update

from portal.auth.models import ApiToken, AuthSession, User
from portal.db import session as db
from portal.db.base import utcnow
from portal.events import bus
from portal.identity.principal import Principal
from portal.identity.roles import Role
from portal.settings import get_settings

TOKEN_PREFIX = "ptk_"  # noqa: S105 (a prefix, not a secret)

# Every request authenticates: these lookups are built once.

TOKEN_PREFIX = "ptk_"  # noqa: S105 (a prefix, not a secret)

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


def forget_verified() -> None:
    """Forget the principals this process verified (without telling the other nodes)."""
    _credentials.clear()


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
