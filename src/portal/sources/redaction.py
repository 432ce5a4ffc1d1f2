"""What never leaves the portal as written: values of sensitive-looking properties, URL passwords, and values
that look like tokens or keys. One function per shape, used by every response, audit entry and log line of the
sources domain; `restore` puts the stored values back where a client sent a redacted one unchanged."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
# Property names that hold credentials. `credentials.secret` is the exception: it names a secret, it is not one.
SENSITIVE_NAME = re.compile(r"(?i)pass(word|wd|phrase)?$|secret|token|api[_-]?key|private[_-]?key|credential|auth")
_REFERENCE_KEYS = {("credentials", "secret")}
# Known token shapes (GitHub, GitLab, Slack, AWS, the portal's own API tokens, JWTs) and private keys.
_TOKEN = re.compile(
    r"^(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{16,}|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|AKIA[0-9A-Z]{16}|ptk_[A-Za-z0-9_-]{16,}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})$"
)
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
# A URL's userinfo inside free text (git's messages, say): scheme://user:password@
_URL_PASSWORD = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@:\s]*):(?P<password>[^/@\s]+)(?=@)")
# ... or a token as its user name: scheme://token@
_URL_USER = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@:\s]+)(?=@)")


def looks_like_token(value: str) -> bool:
    """Whether a value is shaped like a credential (a known token format, a private key)."""
    return bool(_TOKEN.match(value.strip())) or bool(_PRIVATE_KEY.search(value))


def url_has_password(url: str) -> bool:
    """Whether an URL carries a password (or a token as its user name) in its userinfo."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if "@" not in parts.netloc:
        return False
    userinfo = parts.netloc.rsplit("@", 1)[0]
    user, has_colon, password = userinfo.partition(":")
    return bool(has_colon and password) or looks_like_token(user)


def redact_url(url: str) -> str:
    """The URL with the password (or a token-like user name) of its userinfo masked."""
    if not url_has_password(url):
        return url
    parts = urlsplit(url)
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, has_colon, _ = userinfo.partition(":")
    shown = f"{MASK if looks_like_token(user) else user}{':' + MASK if has_colon else ''}"
    return urlunsplit(parts._replace(netloc=f"{shown}@{host}"))


def redact_text(text: str) -> str:
    """Free text (a message, git's stderr) with URL passwords, and user names shaped like tokens, masked."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{_shown_user(m['user'])}:{MASK}", text)
    return _URL_USER.sub(
        lambda m: m.group("head") + (MASK if looks_like_token(m.group("user")) else m.group("user")), text
    )


def _shown_user(user: str) -> str:
    return MASK if looks_like_token(user) else user


def _redact_string(value: str) -> str:
    if looks_like_token(value):
        return MASK
    return redact_url(value) if "://" in value else value


def redact(value: Any, path: tuple[str, ...] = ()) -> Any:
    """A copy of a document (or any JSON value) with every credential masked: values of sensitive-looking
    property names (except the secret references), URL passwords, and token-shaped strings."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            reference = (*path[-1:], name) in _REFERENCE_KEYS
            if not reference and SENSITIVE_NAME.search(name) and not isinstance(item, dict | list) and item:
                out[key] = MASK
            else:
                out[key] = redact(item, (*path, name))
        return out
    if isinstance(value, list):
        return [redact(item, path) for item in value]
    if isinstance(value, str):
        return _redact_string(value)
    return value


def restore(sent: Any, stored: dict[str, Any]) -> Any:
    """`sent` with each masked value that equals the redacted form of the stored value at the same place (same
    source id, same property) replaced by the stored value: a client may save back what it read. `sent` may be
    anything a client sent (it is checked afterwards)."""
    if not isinstance(sent, dict) or not isinstance(sent.get("sources"), list):
        return sent
    by_id = {s.get("id"): s for s in stored.get("sources", []) if isinstance(s, dict)}
    sources = []
    for source in sent["sources"]:
        source_id = source.get("id") if isinstance(source, dict) else None
        old = by_id.get(source_id) if isinstance(source_id, str) else None
        sources.append(_restore_values(source, old) if old is not None else source)
    return {**sent, "sources": sources}


def _restore_values(sent: Any, old: Any) -> Any:
    if isinstance(sent, dict) and isinstance(old, dict):
        return {key: _restore_values(value, old.get(key)) for key, value in sent.items()}
    if isinstance(sent, str) and MASK in sent and old is not None and redact(old) == sent:
        return old
    return sent
