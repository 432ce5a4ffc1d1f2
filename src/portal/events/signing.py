"""Signed messages between nodes: every event and control message on Redis carries an HMAC-SHA256 of its content
and of the time it was sent, with a key every node derives from PORTAL_SECRETS_KEY. A node ignores a message that
is unsigned, signed with another key, or older than `MAX_AGE_SECONDS` (a replay), so whoever can publish on Redis
without the key (a job with network access, another tenant of a shared Redis) cannot cancel jobs or forge updates.
"""

from __future__ import annotations

import hashlib
import hmac
import time

MAX_AGE_SECONDS = 60.0
_CONTEXT = b"portal event bus v1"
_SIG_LEN = 64  # hex SHA-256


class Signer:
    """Signs with the first key, accepts any (so keys can be rotated one node at a time)."""

    def __init__(self, secrets_keys: list[str]) -> None:
        if not secrets_keys:
            raise ValueError("signing messages between nodes needs PORTAL_SECRETS_KEY")
        self._keys = [hmac.new(k.encode(), _CONTEXT, hashlib.sha256).digest() for k in secrets_keys]

    def seal(self, payload: str, now: float | None = None) -> str:
        stamped = f"{int((now if now is not None else time.time()) * 1000)}.{payload}"  # milliseconds
        return hmac.new(self._keys[0], stamped.encode(), hashlib.sha256).hexdigest() + "." + stamped

    def open(self, data: bytes | str, now: float | None = None) -> str | None:
        """The payload of a message signed by a node and recent enough, else None."""
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        signature, dot, stamped = text[:_SIG_LEN], text[_SIG_LEN : _SIG_LEN + 1], text[_SIG_LEN + 1 :]
        if dot != "." or len(signature) != _SIG_LEN:
            return None
        expected = [hmac.new(key, stamped.encode(), hashlib.sha256).hexdigest() for key in self._keys]
        if not any(hmac.compare_digest(signature, e) for e in expected):
            return None
        sent, _, payload = stamped.partition(".")
        try:
            age = (now if now is not None else time.time()) - int(sent) / 1000
        except ValueError:
            return None
        if not -MAX_AGE_SECONDS <= age <= MAX_AGE_SECONDS:
            return None
        return payload
