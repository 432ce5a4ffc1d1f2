"""Logging in with a password, throttled.

Per username (in the database, so every node agrees; usernames that do not exist too, so a throttle never tells
which do): after `PORTAL_LOGIN_FREE_FAILURES` failures each further attempt must wait longer (1 s, 2 s, 4 s, ...
up to the lock time), an attempt that does not wait is refused without checking the password and counts as a
failure, and `PORTAL_LOGIN_LOCK_FAILURES` of them lock the username for `PORTAL_LOGIN_LOCK_MINUTES` (an admin may
unlock it sooner). Per client address (in each node's memory): after `PORTAL_LOGIN_ADDRESS_FAILURES` failures
within the lock time, the same back-off, up to a minute. A refusal is `429` with `Retry-After`.

Passwords are checked on a small pool of threads of their own (`PORTAL_LOGIN_CHECKS`, with at most
`PORTAL_LOGIN_QUEUE` logins waiting), so a flood of logins gets 429s instead of the server's threads and CPU.
A burst of failures is audited once (`auth.login_failed`, and `auth.login_locked` when it locks the username).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from portal.audit import service as audit
from portal.auth import passwords
from portal.auth.models import AuthSession, LoginThrottle, User
from portal.auth.principal import Principal
from portal.auth.roles import Role
from portal.auth.schemas import LoginLockOut
from portal.auth.service import secret_digest
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import NotFound, RateLimited, Unauthorized
from portal.settings import get_settings

log = logging.getLogger(__name__)

BAD_CREDENTIALS = "invalid username or password"
ADDRESS_WAIT_CAP = 60.0
_ADDRESSES_KEPT = 100_000


@dataclass(frozen=True)
class LoginResult:
    session_secret: str
    csrf_token: str
    expires_at: datetime
    principal: Principal


def backoff(failures: int, free: int, cap: float) -> float:
    """Seconds the next attempt must wait after `failures` of them: none for the first `free`, then doubling."""
    if failures <= free:
        return 0.0
    return min(cap, 2.0 ** min(failures - free - 1, 30))


def _refused(wait: float) -> RateLimited:
    seconds = max(1, math.ceil(wait))
    return RateLimited(f"too many failed logins: try again in {seconds} s", retry_after=seconds)


class _AddressThrottle:
    """Failed logins per client address in this process: (failures, first, last, blocked until) by address."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[int, float, float, float]] = OrderedDict()

    def wait(self, address: str, now: float) -> float:
        entry = self._entries.get(address)
        return max(0.0, entry[3] - now) if entry else 0.0

    def failed(self, address: str, now: float) -> None:
        settings = get_settings()
        window = settings.login_lock_minutes * 60
        with self._lock:
            failures, first, last, _ = self._entries.pop(address, (0, now, now, 0.0))
            if now - last > window:
                failures, first = 0, now
            failures += 1
            if failures == settings.login_address_failures + 1:
                log.warning(
                    "logins from %s: %d failures since %.0f s, each further one waits", address, failures, now - first
                )
            blocked = now + backoff(failures, settings.login_address_failures, ADDRESS_WAIT_CAP)
            self._entries[address] = (failures, first, now, blocked)
            while len(self._entries) > _ADDRESSES_KEPT:
                self._entries.popitem(last=False)


_addresses = _AddressThrottle()


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


def _account_wait(username: str, now: datetime) -> tuple[float, bool]:
    """(seconds the username must wait before a password is checked, whether it is locked)."""
    with db.read() as s:
        row = s.get(LoginThrottle, username)
    if row is None:
        return 0.0, False
    if row.locked_until is not None and row.locked_until > now:
        return (row.locked_until - now).total_seconds(), True
    if row.blocked_until is not None and row.blocked_until > now:
        return (row.blocked_until - now).total_seconds(), False
    return 0.0, False


def _count_failure(username: str, client: str) -> None:
    """One more failed (or refused) attempt for `username`: audited when it starts a burst or locks it."""
    for attempt in range(2):  # a concurrent first failure may insert the row between our read and our insert
        try:
            with db.write() as s:
                _count_failure_in(s, username, client)
            return
        except IntegrityError:
            if attempt:
                raise


def _count_failure_in(s: Session, username: str, client: str) -> None:
    settings = get_settings()
    now = utcnow()
    lock = timedelta(minutes=settings.login_lock_minutes)
    row = s.get(LoginThrottle, username, with_for_update=True)
    if row is not None and row.locked_until is not None and row.locked_until > now:
        return  # locked already: nothing more to count
    if row is None or row.last_failure_at < now - lock:
        if row is None:
            # Rows of bursts long over go when a new one starts: an attacker's random usernames do not pile up.
            s.execute(
                delete(LoginThrottle).where(
                    LoginThrottle.last_failure_at < now - lock,
                    or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
                )
            )
            row = LoginThrottle(username=username, failures=0, first_failure_at=now)
            s.add(row)
        row.failures, row.first_failure_at, row.locked_until = 0, now, None
        note = "the first failure of a burst: the rest are counted, not each audited"
        audit.record(s, None, "auth.login_failed", target_type="user", target_id=username, actor_name=username,
                     details={"client": client, "note": note})  # fmt: skip
    row.failures += 1
    row.last_failure_at = now
    row.last_client = client[:64]
    if row.failures >= settings.login_lock_failures:
        row.locked_until = now + lock
        row.blocked_until = None
        locked = {"client": client, "failures": row.failures, "until": row.locked_until.isoformat()}
        audit.record(s, None, "auth.login_locked", target_type="user", target_id=username, actor_name=username,
                     details=locked)  # fmt: skip
    else:
        wait = backoff(row.failures, settings.login_free_failures, lock.total_seconds())
        row.blocked_until = now + timedelta(seconds=wait) if wait else None
    s.flush()


def _load_user(username: str) -> User | None:
    with db.read() as s:
        return s.scalar(select(User).where(User.username == username))


async def login(username: str, password: str, *, client: str, user_agent: str | None) -> LoginResult:
    """Check the credentials (unless throttled: RateLimited) and open a browser session. One error for every
    wrong part (no such user, wrong password, disabled): no hint which."""
    with checks.slot():
        return await _login(username, password, client, user_agent)


async def _login(username: str, password: str, client: str, user_agent: str | None) -> LoginResult:
    now = time.monotonic()
    wait = _addresses.wait(client, now)
    if wait > 0:
        _addresses.failed(client, now)
        raise _refused(wait)
    wait, locked = await run_in_threadpool(_account_wait, username, utcnow())
    if wait > 0:
        if not locked:
            await run_in_threadpool(_count_failure, username, client)
        _addresses.failed(client, now)
        raise _refused(wait)
    user = await run_in_threadpool(_load_user, username)
    ok = await checks.verify(user.password_hash if user is not None else passwords.DUMMY_HASH, password)
    if not ok or user is None or user.disabled:
        _addresses.failed(client, now)
        await run_in_threadpool(_count_failure, username, client)
        raise Unauthorized(BAD_CREDENTIALS)
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
        s.execute(delete(LoginThrottle).where(LoginThrottle.username == user.username))
        audit.record(s, principal, "auth.login", target_type="user", target_id=user.username)
    return LoginResult(secret, csrf, expires, principal)


def throttled() -> list[LoginLockOut]:
    """Usernames that are locked or waiting out a back-off now, the most recent first."""
    now = utcnow()
    query = (
        select(LoginThrottle, User.id)
        .outerjoin(User, User.username == LoginThrottle.username)
        .where(or_(LoginThrottle.locked_until > now, LoginThrottle.blocked_until > now))
        .order_by(LoginThrottle.last_failure_at.desc())
        .limit(1000)
    )
    with db.read() as s:
        rows = s.execute(query).all()
    views = []
    for row, user_id in rows:
        locked = row.locked_until is not None and row.locked_until > now
        views.append(
            LoginLockOut(
                username=row.username,
                known=user_id is not None,
                failures=row.failures,
                first_failure_at=row.first_failure_at,
                last_failure_at=row.last_failure_at,
                last_client=row.last_client,
                locked=locked,
                until=row.locked_until if locked else row.blocked_until,
            )
        )
    return views


def unlock(actor: Principal, username: str) -> None:
    """Forget a username's failures (its lock or back-off ends now); audited."""
    with db.write() as s:
        row = s.get(LoginThrottle, username)
        if row is None:
            raise NotFound(f"no failed logins recorded for {username!r}")
        details = {"failures": row.failures, "locked_until": row.locked_until.isoformat() if row.locked_until else None}
        s.delete(row)
        audit.record(s, actor, "auth.login_unlocked", target_type="user", target_id=username, details=details)
