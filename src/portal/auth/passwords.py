"""Passwords: how they are hashed and checked (argon2), generated, and what a new one must be."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

from portal.settings import get_settings

_hasher = PasswordHasher()
# Checked against when the user does not exist, so a wrong username costs the same time as a wrong password.
DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
MAX_LENGTH = 1024


def hash_password(password: str) -> str:
    """An argon2 hash (slow on purpose: call it outside any database transaction)."""
    return _hasher.hash(password)


def verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a hash was made with weaker parameters than today's (it is replaced at the next login)."""
    return _hasher.check_needs_rehash(password_hash)


def generate() -> str:
    return secrets.token_urlsafe(18)


def problems(password: str, field: str = "password", user_inputs: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """What a new password breaks of the policy, as 422 details: its length (`PORTAL_PASSWORD_MIN_LENGTH`) and
    how guessable it is (zxcvbn's estimate against common passwords, words, names, keyboard patterns and the
    user's own name, at least `PORTAL_PASSWORD_MIN_SCORE` of 4)."""
    settings = get_settings()
    if len(password) < settings.password_min_length:
        return [{"field": field, "message": f"at least {settings.password_min_length} characters"}]
    if len(password) > MAX_LENGTH:
        return [{"field": field, "message": f"at most {MAX_LENGTH} characters"}]
    estimate = zxcvbn(password, user_inputs=[u for u in user_inputs if u])
    if estimate["score"] < settings.password_min_score:
        feedback = estimate["feedback"]
        hints = [feedback.get("warning") or "", *feedback.get("suggestions", [])]
        reason = " ".join(h.rstrip(".") + "." for h in hints if h) or "Add more words or characters."
        return [{"field": field, "message": f"too easy to guess: {reason}"}]
    return []
