"""Fan-out of bus messages to WebSocket clients: one bus subscription per process, one bounded queue per client."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from portal.events.bus import AUTH_CHANGED, RESYNC, EventBus

Filter = Callable[[dict[str, Any]], bool]
CLIENT_QUEUE_SIZE = 2000


@dataclass(eq=False)
class Client:
    """A connected WebSocket: its loop, its queue of encoded messages, what it may receive (`accepts`), what
    ends it (`ends`: a message after which its user may no longer see what it streams) and whose it is."""

    loop: asyncio.AbstractEventLoop
    accepts: Filter
    user_id: int | None = None
    ends: Filter | None = None
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE_SIZE))
    overflowed: bool = False
    # Set when its user's credentials changed somewhere: the stream rechecks them before it sends anything more.
    recheck: asyncio.Event = field(default_factory=asyncio.Event)

    def close(self) -> None:
        """Ask the client's stream to end (it reconnects and refetches)."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    def offer(self, text: str) -> None:
        if self.overflowed:
            return
        if self.queue.full():
            # A client this far behind is disconnected; it refetches when it reconnects, so nothing is lost.
            self.overflowed = True
            self.queue.get_nowait()
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(text)


class Hub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: list[Client] = []
        self._unsubscribe: Callable[[], None] | None = None

    def attach(self, bus: EventBus) -> None:
        self.detach()
        self._unsubscribe = bus.subscribe(self.dispatch, self.wants)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def wants(self, message_type: str) -> bool:
        """Job messages only while a browser is connected; the resync and credential changes always."""
        return bool(self._clients) or message_type in (RESYNC["type"], AUTH_CHANGED)

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def add(self, client: Client) -> None:
        with self._lock:
            self._clients = [*self._clients, client]

    def remove(self, client: Client) -> None:
        with self._lock:
            self._clients = [c for c in self._clients if c is not client]

    def dispatch(self, message: dict[str, Any]) -> None:
        """Called from any thread for each bus message; encodes it once and queues it on matching clients."""
        if message.get("type") == RESYNC["type"]:
            # Updates may have been missed: every client reconnects and refetches.
            for client in self._clients:
                self._call(client, client.close)
            return
        if message.get("type") == AUTH_CHANGED:
            self._recheck(message.get("user_id"))
            return
        for client in self._clients:
            if client.ends is not None and client.ends(message):
                self._call(client, client.close)
        targets = [c for c in self._clients if c.accepts(message)]
        if not targets:
            return
        text = json.dumps(message, separators=(",", ":"), default=str)
        for client in targets:
            self._call(client, client.offer, text)

    def _recheck(self, user_id: Any) -> None:
        """A user's credentials changed (`None`: anyone's): their streams recheck theirs before sending more.
        Scheduled in the order of the bus, so nothing published after the change is sent before the check."""
        for client in self._clients:
            if user_id is None or client.user_id == user_id:
                self._call(client, client.recheck.set)

    def _call(self, client: Client, callback: Callable[..., None], *args: Any) -> None:
        try:
            client.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            self.remove(client)  # its loop is closed


hub = Hub()
