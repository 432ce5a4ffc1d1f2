"""Logging in with a password, throttled (see `login_throttle`).

Passwords are checked on a small pool of threads of their own (`PORTAL_LOGIN_CHECKS`, with at most
`PORTAL_LOGIN_QUEUE` logins waiting), so a flood of logins gets 429s instead of the server's threads and CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool

from portal.audit import service as audit
from portal.auth import login_throttle as throttle
from portal.auth import passwords
from portal.auth.credentials import secret_digest
from portal.auth.models import AuthSession, User
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import RateLimited, Unauthorized
from portal.identity.principal import Principal
from portal.identity.roles import Role
from portal.settings import get_settings

BAD_CREDENTIALS = "invalid username or password"


@dataclass(frozen=True)
class LoginResult:
    session_secret: str
    csrf_token: str
    expires_at: datetime
    principal: Principal


class _PasswordChecks:
    """Logins in progress, a bounded number at once (those beyond get 429 before any work), and their password
    checks on threads of their own, a few at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._slots: threading.BoundedSemaphore | None = None

    def _ready(self) -> tuple[ThreadPoolExecutor, threading.BoundedSemaphore]:
        with self._lock:
            if self._pool is None or self._slots is None:
                settings = get_settings()
                self._pool = ThreadPoolExecutor(settings.login_checks, thread_name_prefix="password-check")
                self._slots = threading.BoundedSemaphore(settings.login_checks + settings.login_queue)
            return self._pool, self._slots

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """A place for one login, or RateLimited at once."""
        _, slots = self._ready()
        if not slots.acquire(blocking=False):
            raise RateLimited("too many logins at once: try again in a moment", retry_after=1)
        try:
            yield
        finally:
            slots.release()

    async def verify(self, password_hash: str, password: str) -> bool:
        pool, _ = self._ready()
        return await asyncio.get_running_loop().run_in_executor(pool, passwords.verify, password_hash, password)


checks = _PasswordChecks()


def _load_user(username: str) -> User | None:
    with db.read() as s:
        return s.scalar(select(User).where(User.username == username))


async def login(username: str, password: str, *, client: str, user_agent: str | None) -> LoginResult:
    """Check the credentials (unless throttled: RateLimited) and open a browser session. One error for every
    wrong part (no such user, wrong password, disabled): no hint which."""
    with checks.slot():
        return await _login(username, password, client, user_agent)


async def _login(username: str, password: str, client: str, user_agent: str | None) -> LoginResult:
    address = throttle.address_key(client)
    address_wait, address_attempts = throttle.addresses.reserve(address, time.monotonic())
    if address_wait > 0:
        raise throttle.refused(address_wait)  # before the username is touched: a sprayer locks no account
    reservation = await run_in_threadpool(throttle.reserve, username, client)
    if reservation.wait > 0:
        raise throttle.refused(reservation.wait)
    user = await run_in_threadpool(_load_user, username)
    ok = await checks.verify(user.password_hash if user is not None else passwords.DUMMY_HASH, password)
    if not ok or user is None or user.disabled:
        known = user is not None
        await run_in_threadpool(
            throttle.failed, username, client, reservation, known=known, address_attempts=address_attempts
        )
        raise Unauthorized(BAD_CREDENTIALS)
    throttle.addresses.succeeded(address)
    return await run_in_threadpool(_open_session, user, password, client, user_agent)


def _open_session(user: User, password: str, client: str, user_agent: str | None) -> LoginResult:
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    expires = utcnow() + timedelta(hours=get_settings().session_hours)
    principal = Principal(id=user.id, username=user.username, role=Role.parse(user.role), csrf_token=csrf)
    rehashed = passwords.hash_password(password) if passwords.needs_rehash(user.password_hash) else None
    with db.write() as s:
        s.add(
            AuthSession(
                id_hash=secret_digest(secret),
                user_id=user.id,
                csrf_token=csrf,
                expires_at=expires,
                ip=client[:64] or None,
                user_agent=(user_agent or "")[:300],
            )
        )
        values: dict[str, object] = {"last_login_at": utcnow()}
        if rehashed is not None:
            values["password_hash"] = rehashed
        s.execute(update(User).where(User.id == user.id).values(**values))
        throttle.forget(s, user.username)
        audit.record(s, principal, "auth.login", target_type="user", target_id=user.username)
    return LoginResult(secret, csrf, expires, principal)
