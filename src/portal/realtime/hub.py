"""Fan-out of bus messages to WebSocket clients: one bus subscription per process, one bounded queue per client."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from portal.realtime.bus import RESYNC, EventBus

Filter = Callable[[dict[str, Any]], bool]
CLIENT_QUEUE_SIZE = 2000


@dataclass(eq=False)
class Client:
    """A connected WebSocket: its loop, its queue of encoded messages and what it may receive."""

    loop: asyncio.AbstractEventLoop
    accepts: Filter
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE_SIZE))
    overflowed: bool = False

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
        self._unsubscribe = bus.subscribe(self.dispatch)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

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
                try:
                    client.loop.call_soon_threadsafe(client.close)
                except RuntimeError:
                    self.remove(client)
            return
        targets = [c for c in self._clients if c.accepts(message)]
        if not targets:
            return
        text = json.dumps(message, separators=(",", ":"), default=str)
        for client in targets:
            try:
                client.loop.call_soon_threadsafe(client.offer, text)
            except RuntimeError:
                self.remove(client)  # its loop is closed


hub = Hub()
