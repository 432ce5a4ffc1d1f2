"""The EventBus interface and its in-process implementation.

Publishers (the job service, from any thread) call `publish`; each process has one subscriber, the WebSocket hub,
which fans messages out in memory. The distributed mode swaps in a Redis-backed bus with the same interface.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis

from portal.events.signing import Signer

log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], None]
# Whether a listener would do anything with a message of this type right now (the WebSocket hub: only when a
# browser is connected). A listener that says nothing wants everything.
Interest = Callable[[str], bool]


class EventBus(Protocol):
    def publish(self, message: dict[str, Any]) -> None: ...

    def subscribe(self, listener: Listener, wants: Interest | None = None) -> Callable[[], None]: ...

    def wanted(self, message_type: str) -> bool:
        """Whether a message of this type would reach anyone: when not, its publisher need not build it."""

    def close(self) -> None: ...

    def flush(self) -> None:
        """Called about every second by the process's monitor: make up for messages it had to drop."""


class LocalEventBus:
    """Delivers each message synchronously to this process's listeners (which must be quick and thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[tuple[Listener, Interest | None]] = []

    def publish(self, message: dict[str, Any]) -> None:
        for listener, _wants in self._subscribers:
            try:
                listener(message)
            except Exception:
                log.exception("event listener failed")

    def subscribe(self, listener: Listener, wants: Interest | None = None) -> Callable[[], None]:
        with self._lock:
            self._subscribers = [*self._subscribers, (listener, wants)]

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = [item for item in self._subscribers if item[0] is not listener]

        return unsubscribe

    def wanted(self, message_type: str) -> bool:
        for _listener, wants in self._subscribers:
            try:
                if wants is None or wants(message_type):
                    return True
            except Exception:  # a broken interest must not cost a message: it counts as wanting it
                log.exception("event interest check failed")
                return True
        return False

    def close(self) -> None:
        with self._lock:
            self._subscribers = []

    def flush(self) -> None:
        return None


_bus: EventBus = LocalEventBus()


def set_bus(bus: EventBus) -> None:
    global _bus
    _bus = bus


def publish(message: dict[str, Any]) -> None:
    """Publish on the process's bus."""
    _bus.publish(message)


def wanted(message_type: str) -> bool:
    """Whether a message of this type published now would reach anyone (in the embedded mode, no browser
    connected means no job update to build: a launch and a job's end each skip building one)."""
    return _bus.wanted(message_type)


def current() -> EventBus:
    return _bus


def close() -> None:
    """Close the process's bus and go back to an in-process one."""
    global _bus
    _bus.close()
    _bus = LocalEventBus()


RESYNC = {"type": "bus.resync"}
# Someone's sessions, tokens, role or account changed: {"type": AUTH_CHANGED, "user_id": id}.
AUTH_CHANGED = "auth.changed"
# A call to Redis gives up after this long, and after a failure publishing pauses this long (messages dropped
# meanwhile are made up for by a resync).
SOCKET_TIMEOUT = 3.0
PUBLISH_PAUSE = 2.0
RESYNC_GAP = 5.0


class RedisEventBus:
    """Redis pub/sub on one channel: every process that subscribes gets every message published by any node.

    One subscriber thread per bus, whatever the number of listeners. When Redis is lost, the thread reconnects
    with backoff and then delivers `RESYNC` to its listeners: messages published meanwhile are gone, so the
    WebSocket hub drops its clients, which reconnect and refetch (the database is the truth).
    """

    def __init__(self, url: str, channel: str, signer: Signer) -> None:
        self.channel = channel
        self._signer = signer
        self._last_forgery_warning = 0.0
        self.forged = 0  # messages ignored because no node signed them
        self._redis = redis.Redis.from_url(
            url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT, health_check_interval=15
        )
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._last_publish_error = 0.0
        self._dropped = False
        self._pause_until = 0.0
        self.connected = False

    def publish(self, message: dict[str, Any]) -> None:
        now = time.monotonic()
        if now < self._pause_until:
            # Redis failed a moment ago: do not make every caller wait for it again. This node's own listeners
            # still hear it (a revoked credential ends this node's streams at once), the others resync later.
            self._deliver(message)
            return
        try:
            self._redis.publish(
                self.channel, self._signer.seal(json.dumps(message, separators=(",", ":"), default=str))
            )
        except redis.RedisError as exc:
            self._dropped = True
            self._pause_until = now + PUBLISH_PAUSE
            self._deliver(message)
            if now - self._last_publish_error > 10:
                log.warning("publishing on %s failed: %s", self.channel, exc)
                self._last_publish_error = now

    def subscribe(self, listener: Listener, wants: Interest | None = None) -> Callable[[], None]:
        # Every listener of every node hears each message: which of them would want it is unknown here.
        with self._lock:
            self._listeners = [*self._listeners, listener]
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name=f"bus-{self.channel}", daemon=True)
                self._thread.start()

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = [item for item in self._listeners if item is not listener]

        return unsubscribe

    def wanted(self, message_type: str) -> bool:
        return True  # other nodes' listeners may want it

    def take_turn(self, task: str, holder: str, seconds: float) -> bool:
        """Whether `holder` gets `task` for the next `seconds` among every node on this Redis (a lease)."""
        key = f"{self.channel}:turn:{task}"
        return bool(self._redis.set(key, holder, nx=True, px=max(1, int(seconds * 1000))))

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            self._listeners = []
        self._redis.close()

    def flush(self) -> None:
        """When this node dropped messages (Redis was away from it, maybe from it alone), tell every subscriber
        to resynchronise from the database once Redis answers again, at most once per RESYNC_GAP across all
        nodes (a flaky Redis must not make every browser refetch all the time; until it is this node's turn,
        the resync that another node sent covers most of what it dropped, and its own follows)."""
        if not self._dropped or time.monotonic() < self._pause_until:
            return
        try:
            if self.take_turn("resync", "any", RESYNC_GAP):
                self._redis.publish(self.channel, self._signer.seal(json.dumps(RESYNC)))
                self._dropped = False
        except redis.RedisError:
            self._pause_until = time.monotonic() + PUBLISH_PAUSE

    def _resync_after_outage(self) -> None:
        """Messages were missed here: this process's listeners resynchronise (and, when it dropped some of its
        own, every subscriber does, through `flush`)."""
        self._deliver(RESYNC)
        self.flush()

    def _deliver(self, message: dict[str, Any]) -> None:
        for listener in self._listeners:
            try:
                listener(message)
            except Exception:
                log.exception("event listener failed")

    def _forged(self) -> None:
        self.forged += 1
        now = time.monotonic()
        if now - self._last_forgery_warning > 10:
            self._last_forgery_warning = now
            log.warning("ignored a message on %s that no node signed (or a replay of an old one)", self.channel)

    def _listen(self) -> None:
        backoff = 0.2
        lost = False
        while not self._closing.is_set():
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self.connected = True
                if lost:
                    log.info("event bus %s reconnected", self.channel)
                    self._resync_after_outage()
                    lost = False
                backoff = 0.2
                while not self._closing.is_set():
                    raw = pubsub.get_message(timeout=1.0)
                    if raw is None or raw.get("type") != "message":
                        continue
                    payload = self._signer.open(raw["data"])
                    if payload is None:
                        self._forged()
                        continue
                    try:
                        message = json.loads(payload)
                    except ValueError:
                        log.warning("dropped a malformed message on %s", self.channel)
                        continue
                    self._deliver(message)
            except (redis.RedisError, OSError) as exc:
                if not lost:
                    log.warning("event bus %s lost its connection: %s", self.channel, exc)
                self.connected = False
                lost = True
                self._closing.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                try:
                    pubsub.close()
                except Exception:
                    log.debug("closing a broken subscription failed", exc_info=True)
        self.connected = False
