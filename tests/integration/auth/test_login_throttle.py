"""Login throttling, attacked: guessing one account's password, spraying from one address, and a flood of logins.

The portal here believes X-Forwarded-For from 127.0.0.1 (a trusted proxy), so each test attacks from a client
address of its own."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.helpers import PortalServer


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    server = PortalServer(tmp_path_factory.mktemp("throttle"), {"PORTAL_TRUSTED_PROXIES": "127.0.0.1"}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def admin(portal: PortalServer) -> Iterator[httpx.Client]:
    with portal.client(portal.token_for("admin")) as client:
        yield client


def attempt(portal: PortalServer, username: str, password: str, address: str) -> httpx.Response:
    return httpx.post(
        f"{portal.url}/api/auth/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": address},
        timeout=60,
    )


def new_user(admin: httpx.Client, name: str) -> None:
    created = admin.post("/api/admin/users", json={"username": name, "role": "requester", "password": PASSWORD})
    assert created.status_code == 201, created.text


def audited(admin: httpx.Client, action: str, username: str) -> int:
    entries = admin.get("/api/admin/audit", params={"action": action, "target_id": username}).json()["items"]
    return len(entries)


def test_fifty_wrong_passwords_lock_the_account_until_an_admin_unlocks_it(
    portal: PortalServer, admin: httpx.Client
) -> None:
    new_user(admin, "guessed")
    answers = [attempt(portal, "guessed", f"guess-{n}", "198.51.100.1") for n in range(50)]
    codes = [a.status_code for a in answers]
    assert codes[:5] == [401] * 5  # a few typos cost nothing
    assert codes.count(401) < 10, codes  # then most guesses are refused before any password is checked
    refused = [a for a in answers if a.status_code == 429]
    assert refused and all(int(a.headers["Retry-After"]) >= 1 for a in refused)
    # The right password, now, from anywhere: refused too, for the lock's time (15 minutes).
    for address in ("198.51.100.1", "198.51.100.2"):
        locked = attempt(portal, "guessed", PASSWORD, address)
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 600, locked.text
    listed = {entry["username"]: entry for entry in admin.get("/api/admin/login-locks").json()}
    assert listed["guessed"]["locked"] and listed["guessed"]["known"]
    assert listed["guessed"]["last_client"] == "198.51.100.2" or listed["guessed"]["failures"] >= 20
    # One audit entry for the burst and one for the lock, not fifty.
    assert audited(admin, "auth.login_failed", "guessed") == 1
    assert audited(admin, "auth.login_locked", "guessed") == 1
    # The command line unlocks too (an attacker may have locked every admin).
    listed_cli = portal.cli("logins", "list")
    assert listed_cli.returncode == 0 and "guessed\tlocked" in listed_cli.stdout, listed_cli.stdout
    assert portal.cli("logins", "unlock", "guessed").returncode == 0
    assert audited(admin, "auth.login_unlocked", "guessed") == 1
    assert portal.cli("logins", "unlock", "guessed").returncode != 0  # nothing to unlock
    assert attempt(portal, "guessed", "still-wrong", "198.51.100.4").status_code == 401  # checked again
    assert admin.delete("/api/admin/login-locks/guessed").status_code == 204  # the admin's unlock
    assert audited(admin, "auth.login_unlocked", "guessed") == 2
    assert attempt(portal, "guessed", PASSWORD, "198.51.100.3").status_code == 200
    assert admin.delete("/api/admin/login-locks/guessed").status_code == 404  # a success forgets the failures


def test_a_name_that_is_no_user_is_throttled_alike(portal: PortalServer, admin: httpx.Client) -> None:
    """The throttle must not tell which usernames exist."""
    new_user(admin, "real-one")
    for name in ("real-one", "made-up-one"):
        codes = [attempt(portal, name, f"wrong-{n}", "198.51.100.20").status_code for n in range(8)]
        assert codes[:5] == [401] * 5 and 429 in codes, (name, codes)
    listed = {entry["username"]: entry for entry in admin.get("/api/admin/login-locks").json()}
    assert listed["real-one"]["known"] and not listed["made-up-one"]["known"]


def test_spraying_from_one_address_slows_that_address_only(portal: PortalServer, admin: httpx.Client) -> None:
    new_user(admin, "sprayed")
    for n in range(51):  # one guess per name: no account is throttled, the address is (after 50)
        assert attempt(portal, f"name-{n}", "Winter2026!", "203.0.113.50").status_code == 401
    codes = [attempt(portal, "sprayed", PASSWORD, "203.0.113.50").status_code for _ in range(3)]
    assert 429 in codes, codes  # even the right password, from that address, waits
    assert attempt(portal, "sprayed", PASSWORD, "203.0.113.51").status_code == 200


def test_a_flood_of_logins_is_turned_away_and_the_server_keeps_answering(portal: PortalServer) -> None:
    """Password checks run a few at a time, with a bounded queue: the rest of a flood gets 429 at once."""
    healthz: list[int] = []

    def one(n: int) -> int:
        if n % 50 == 25:
            healthz.append(httpx.get(f"{portal.url}/healthz", timeout=60).status_code)
        name = f"flood-{secrets.token_hex(4)}"
        return attempt(portal, name, "wrong-password", f"192.0.2.{n % 250}").status_code

    with ThreadPoolExecutor(100) as pool:
        codes = list(pool.map(one, range(200)))
    assert set(codes) <= {401, 429}
    assert codes.count(429) > 0 and codes.count(401) > 0, codes
    assert healthz == [200] * 4


def test_the_audit_of_a_burst_is_one_entry(portal: PortalServer, admin: httpx.Client) -> None:
    for n in range(3):
        assert attempt(portal, "burst-name", f"wrong-{n}", "198.51.100.30").status_code == 401
    assert audited(admin, "auth.login_failed", "burst-name") == 1


def test_guesses_sent_at_once_are_counted_before_they_are_checked(portal: PortalServer) -> None:
    """Twenty guesses in flight together: only the free ones (and the one that starts the back-off) are checked."""
    with ThreadPoolExecutor(20) as pool:
        codes = list(
            pool.map(lambda n: attempt(portal, "raced-name", f"guess-{n}", "198.51.100.60").status_code, range(20))
        )
    assert codes.count(401) <= 6 and codes.count(429) >= 14, codes


def test_waiting_out_the_lock_buys_one_guess_at_a_time(tmp_path: Path) -> None:
    """The patient attacker: after a lock, each failure locks the name again at once; the count is not reset."""
    settings = {
        "PORTAL_TRUSTED_PROXIES": "127.0.0.1",
        "PORTAL_LOGIN_FREE_FAILURES": "2",
        "PORTAL_LOGIN_LOCK_FAILURES": "4",
        # 6 s: long enough that `locked` (a `portal` command starting) sees a lock as it is, even on a busy machine.
        "PORTAL_LOGIN_LOCK_MINUTES": "0.1",
    }
    server = PortalServer(tmp_path / "data", settings).start()
    try:
        with server.client(server.token_for("admin")) as admin:
            new_user(admin, "patient")
        deadline = time.monotonic() + 30
        while attempt(server, "patient", "guess", "198.51.100.70").status_code != 429 or not locked(server):
            assert time.monotonic() < deadline, "never locked"
            time.sleep(0.3)
        time.sleep(6.2)  # the lock ends
        assert attempt(server, "patient", "guess-after", "198.51.100.70").status_code == 401  # one guess...
        again = attempt(server, "patient", PASSWORD, "198.51.100.71")
        assert again.status_code == 429 and locked(server), again.text  # ...and locked again at once
    finally:
        server.stop()


def locked(server: PortalServer) -> bool:
    listed = server.cli("logins", "list").stdout
    return "patient\tlocked" in listed
