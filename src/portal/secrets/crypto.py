"""Encryption at rest for secrets and sealed inputs: Fernet (AES-128-CBC with HMAC-SHA256) from `cryptography`."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from portal.errors import PortalError
from portal.settings import Settings, get_settings

KEY_FILE = "secrets.key"
_lock = threading.Lock()
_cached: tuple[tuple[str, ...], MultiFernet] | None = None


class SecretsKeyError(PortalError):
    status_code = 500
    code = "secrets_key"


def _keys(settings: Settings) -> list[str]:
    """The configured keys, or the data directory's own key (created once, readable by this user only).

    A shared database (PostgreSQL) is used by several processes, each with its own data directory: there a
    key file would differ per node, so the key must be configured.
    """
    if settings.secrets_key:
        return settings.secrets_key
    if not settings.resolved_database_url.startswith("sqlite"):
        raise SecretsKeyError("set PORTAL_SECRETS_KEY: with a shared database every node needs the same key")
    path: Path = settings.data_dir / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(Fernet.generate_key().decode())
    return path.read_text().split()


def known_keys(settings: Settings) -> list[str]:
    """The keys configured or kept in the data directory (none made here)."""
    if settings.secrets_key:
        return list(settings.secrets_key)
    path = settings.data_dir / KEY_FILE
    return path.read_text().split() if path.is_file() else []


def write_key_file(settings: Settings, keys: list[str]) -> None:
    """Keep these keys in the data directory (the first encrypts), readable by this user only."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(keys) + "\n")


def valid_key(key: str) -> bool:
    """Whether `key` is a Fernet key (32 url-safe base64 bytes)."""
    try:
        Fernet(key.encode())
    except (ValueError, TypeError):
        return False
    return True


def decrypts(token: str, keys: list[str]) -> bool:
    """Whether one of `keys` decrypts `token`."""
    usable = [Fernet(k.encode()) for k in keys if valid_key(k)]
    if not usable:
        return False
    try:
        MultiFernet(usable).decrypt(token.encode())
    except (InvalidToken, TypeError, ValueError):
        return False
    return True


def fingerprint(key: str) -> str:
    """A short digest naming a key without revealing it (the keys are random, so it cannot be reversed)."""
    return hashlib.sha256(b"portal secrets key\0" + key.encode()).hexdigest()[:16]


def _fernet() -> MultiFernet:
    global _cached
    keys = tuple(_keys(get_settings()))
    with _lock:
        if _cached is None or _cached[0] != keys:
            try:
                _cached = (keys, MultiFernet([Fernet(key.encode()) for key in keys]))
            except ValueError as exc:
                raise SecretsKeyError("PORTAL_SECRETS_KEY must be Fernet keys (32 url-safe base64 bytes)") from exc
        return _cached[1]


def encrypt(text: str) -> str:
    return _fernet().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretsKeyError("a secret cannot be decrypted with the configured keys") from exc


def seal(values: dict[str, Any]) -> str:
    """A dict as encrypted JSON."""
    return encrypt(json.dumps(values))


def unseal(token: str) -> dict[str, Any]:
    value = json.loads(decrypt(token))
    return value if isinstance(value, dict) else {}
