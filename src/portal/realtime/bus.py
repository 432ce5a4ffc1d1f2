"""The EventBus interface and its in-process implementation.

Publishers (the job service, from any thread) call `publish`; each process has one subscriber, the WebSocket hub,
which fans messages out in memory. The distributed mode swaps in a Redis-backed bus with the same interface.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], None]


class EventBus(Protocol):
    def publish(self, message: dict[str, Any]) -> None: ...

    def subscribe(self, listener: Listener) -> Callable[[], None]: ...

    def close(self) -> None: ...


class LocalEventBus:
    """Delivers each message synchronously to this process's listeners (which must be quick and thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def publish(self, message: dict[str, Any]) -> None:
        for listener in self._listeners:
            try:
                listener(message)
            except Exception:
                log.exception("event listener failed")

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners = [*self._listeners, listener]

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = [item for item in self._listeners if item is not listener]

        return unsubscribe

    def close(self) -> None:
        with self._lock:
            self._listeners = []


_bus: EventBus = LocalEventBus()


def set_bus(bus: EventBus) -> None:
    global _bus
    _bus = bus


def publish(message: dict[str, Any]) -> None:
    """Publish on the process's bus."""
    _bus.publish(message)
