"""API tokens: created for a user (the secret shown once, only its digest stored), listed, and revoked."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import and_, func, not_, or_, select

from portal.audit import service as audit
from portal.auth.credentials import TOKEN_PREFIX, credentials_changed, secret_digest
from portal.auth.models import ApiToken, User
from portal.auth.schemas import TokenOut, TokenPage
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict, NotFound, ValidationFailed
from portal.identity.principal import Principal
from portal.identity.roles import Role


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
