"""The real PostgreSQL, Redis and RabbitMQ the distributed tests use: reachability (skip on a laptop without them, fail
under CI=true), a fresh database per portal, and a Redis namespace per portal so runs never see each other."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg
import pytest
import redis

POSTGRES_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("PORTAL_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def require(*services: str) -> None:
    """Skip the test when a service is unreachable (with the reason), or fail it under CI=true."""
    known = {
        "postgres": (POSTGRES_URL, 5432, "PORTAL_TEST_DATABASE_URL"),
        "redis": (REDIS_URL, 6379, "PORTAL_TEST_REDIS_URL"),
        "rabbitmq": (RABBITMQ_URL, 5672, "PORTAL_TEST_RABBITMQ_URL"),
    }
    for name in services:
        url, port, variable = known[name]
        if not _reachable(url, port):
            unavailable(f"{name} is not reachable at {url} (set {variable})")


def unavailable(reason: str) -> None:
    """Skip a test whose real service (or other prerequisite: a kernel protection, a build) is missing, with the
    reason; under CI=true that is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: a missing prerequisite is a failure)")
    pytest.skip(reason)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (dropped afterwards); yields its SQLAlchemy URL."""
    name = f"portal_test_{uuid.uuid4().hex[:12]}"
    admin_url = _libpq(POSTGRES_URL)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def redis_namespace() -> Iterator[str]:
    """A namespace for one portal's queues, channels and task ids; its keys are deleted afterwards."""
    namespace = f"t{uuid.uuid4().hex[:10]}"
    try:
        yield namespace
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
