"""How many password guesses a username and a client address get: back-off, temporary locks, and their audit.

Per username (in the database, so every node agrees; usernames that do not exist too, so a throttle never tells
which do): each attempt is counted *before* its password is checked (a success forgets the count), so attempts
sent at once cannot all slip through before the first failure is recorded. After `PORTAL_LOGIN_FREE_FAILURES`
each further attempt must wait longer (1 s, 2 s, 4 s, ... up to the lock time); an attempt that does not wait is
refused without a check and counts too; `PORTAL_LOGIN_LOCK_FAILURES` of them lock the username for
`PORTAL_LOGIN_LOCK_MINUTES`, and once locked, every further failure locks it again at once. The count is
forgotten only after a day without failures (or a success, or an admin's unlock): waiting out each back-off
gains an attacker nothing.

Per client address (in each node's memory; IPv6 addresses by their /64, what one host usually holds): after
`PORTAL_LOGIN_ADDRESS_FAILURES` failures within the lock time, the same back-off, up to a minute.

A burst of failures is audited once: `auth.login_failed` for a username's first failure of a burst (for names
that are no user, only within the first few attempts of the address's burst, so random names do not write a
row each), and `auth.login_locked` when a username locks.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.auth.models import LoginThrottle, User
from portal.auth.schemas import LoginLockOut
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import NotFound, RateLimited
from portal.identity.principal import Principal
from portal.settings import get_settings

log = logging.getLogger(__name__)

ADDRESS_WAIT_CAP = 60.0
FORGET = timedelta(days=1)
_ADDRESSES_KEPT = 100_000
# Failures for names that are no user are audited for the first few of an address's burst only: random names
# must not write a row each.
UNKNOWN_NAMES_AUDITED = 10


def backoff(failures: int, free: int, cap: float) -> float:
    """Seconds the next attempt must wait after `failures` of them: none for the first `free`, then doubling."""
    if failures <= free:
        return 0.0
    return min(cap, 2.0 ** min(failures - free - 1, 30))


def refused(wait: float) -> RateLimited:
    seconds = max(1, math.ceil(wait))
    return RateLimited(f"too many failed logins: try again in {seconds} s", retry_after=seconds)


def address_key(client: str) -> str:
    """What the address throttle counts by: an IPv4 address, or an IPv6 address's /64."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class AddressThrottle:
    """Attempts per client address in this process: (failures, first, last, blocked until) by address key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[int, float, float, float]] = OrderedDict()

    def reserve(self, key: str, now: float) -> tuple[float, int]:
        """Count an attempt before its check: (seconds it must wait first, or 0; the attempts of the address's
        burst so far, this one included)."""
        settings = get_settings()
        with self._lock:
            failures, first, last, blocked = self._entries.pop(key, (0, now, now, 0.0))
            starts = failures == 0 or now - last > settings.login_lock_minutes * 60
            if starts:
                failures, first, blocked = 0, now, 0.0
            failures += 1
            if failures == settings.login_address_failures + 1:
                log.warning("logins from %s: %d failures in %.0f s, each further one waits", key, failures, now - first)
            wait = max(0.0, blocked - now)
            if not wait:
                blocked = now + backoff(failures, settings.login_address_failures, ADDRESS_WAIT_CAP)
            self._entries[key] = (failures, first, now, blocked)
            while len(self._entries) > _ADDRESSES_KEPT:
                self._entries.popitem(last=False)
            return wait, failures

    def reset(self) -> None:
        """Forget every address's failures."""
        with self._lock:
            self._entries.clear()

    def succeeded(self, key: str) -> None:
        """A checked attempt was right: it was no failure (the address's earlier failures stay)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                failures, first, last, blocked = entry
                self._entries[key] = (max(0, failures - 1), first, last, blocked)


addresses = AddressThrottle()


@dataclass(frozen=True)
class Reservation:
    """An attempt counted before its check: `wait` > 0 means refused; `starts` when it began a burst."""

    wait: float
    locked: bool = False
    starts: bool = False


def reserve(username: str, client: str) -> Reservation:
    """Count an attempt of `username` before its password is checked, or refuse it (see the module's docstring)."""
    for attempt in range(2):  # a concurrent first attempt may insert the row between our read and our insert
        try:
            with db.write() as s:
                return _reserve_in(s, username, client)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def _reserve_in(s: Session, username: str, client: str) -> Reservation:
    settings = get_settings()
    now = utcnow()
    lock = timedelta(minutes=settings.login_lock_minutes)
    row = s.get(LoginThrottle, username, with_for_update=True)
    starts = row is None or row.last_failure_at < now - FORGET
    if row is None:
        # Rows forgotten a day ago go when a new one starts: an attacker's random usernames do not pile up.
        s.execute(
            delete(LoginThrottle).where(
                LoginThrottle.last_failure_at < now - FORGET,
                or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
            )
        )
        row = LoginThrottle(username=username, failures=0, first_failure_at=now)
        s.add(row)
    elif starts:
        row.failures, row.first_failure_at, row.locked_until, row.blocked_until = 0, now, None, None
    if row.locked_until is not None and row.locked_until > now:
        return Reservation((row.locked_until - now).total_seconds(), locked=True)  # not counted: locked already
    row.failures += 1
    row.last_failure_at = now
    row.last_client = client[:64]
    waiting = row.blocked_until is not None and row.blocked_until > now
    wait = (row.blocked_until - now).total_seconds() if waiting and row.blocked_until else 0.0
    # A refused attempt counts as a failure, so its back-off grows as well.
    backoff_seconds = backoff(row.failures, settings.login_free_failures, lock.total_seconds())
    blocked = now + timedelta(seconds=backoff_seconds) if backoff_seconds else None
    if blocked is not None and (row.blocked_until is None or blocked > row.blocked_until):
        row.blocked_until = blocked
    if waiting and row.failures >= settings.login_lock_failures:
        _lock(s, row, client, lock)
    s.flush()
    return Reservation(wait, starts=starts and not waiting)


def _lock(s: Session, row: LoginThrottle, client: str, lock: timedelta) -> None:
    row.locked_until = row.last_failure_at + lock
    row.blocked_until = None
    details = {"client": client, "failures": row.failures, "until": row.locked_until.isoformat()}
    audit.record(s, None, "auth.login_locked", target_type="user", target_id=row.username, actor_name=row.username,
                 details=details)  # fmt: skip


def failed(username: str, client: str, reservation: Reservation, *, known: bool, address_attempts: int) -> None:
    """The reserved attempt's password was wrong: lock the username if it has failed too often, and audit the
    start of its burst (for names that are no user, only the first few of each address's burst)."""
    settings = get_settings()
    with db.write() as s:
        row = s.get(LoginThrottle, username, with_for_update=True)
        if row is None:
            return  # an admin unlocked it meanwhile
        if row.failures >= settings.login_lock_failures and (row.locked_until is None or row.locked_until < utcnow()):
            _lock(s, row, client, timedelta(minutes=settings.login_lock_minutes))
        if reservation.starts and (known or address_attempts <= UNKNOWN_NAMES_AUDITED):
            note = "the first failure of a burst: the rest are counted, not each audited"
            audit.record(s, None, "auth.login_failed", target_type="user", target_id=username, actor_name=username,
                         details={"client": client, "known_user": known, "note": note})  # fmt: skip


def forget(s: Session, username: str) -> None:
    """A successful login: the username's count starts again."""
    s.execute(delete(LoginThrottle).where(LoginThrottle.username == username))


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
