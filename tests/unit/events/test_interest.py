"""A publisher may skip building a message nobody would hear: the in-process bus says whether any listener wants a
type; the WebSocket hub wants job messages only while a browser is connected, and always the resync and
credential changes; a listener that says nothing wants everything."""

from __future__ import annotations

import asyncio
from typing import Any

from portal.events.bus import AUTH_CHANGED, RESYNC, LocalEventBus
from portal.jobs.messages import JOB_UPDATED
from portal.realtime.hub import Client, Hub


def test_an_empty_bus_wants_nothing_and_a_plain_listener_wants_everything() -> None:
    bus = LocalEventBus()
    assert not bus.wanted(JOB_UPDATED)
    heard: list[dict[str, Any]] = []
    unsubscribe = bus.subscribe(heard.append)
    assert bus.wanted(JOB_UPDATED) and bus.wanted("anything")
    unsubscribe()
    assert not bus.wanted(JOB_UPDATED)


def test_the_hub_wants_job_messages_only_while_a_browser_is_connected() -> None:
    bus = LocalEventBus()
    bus.subscribe(lambda message: None, lambda kind: kind == AUTH_CHANGED)
    hub = Hub()
    hub.attach(bus)
    assert not bus.wanted(JOB_UPDATED)
    assert bus.wanted(AUTH_CHANGED) and bus.wanted(RESYNC["type"])

    loop = asyncio.new_event_loop()
    try:
        client = Client(loop=loop, accepts=lambda message: True)
        hub.add(client)
        assert bus.wanted(JOB_UPDATED)
        hub.remove(client)
        assert not bus.wanted(JOB_UPDATED)
    finally:
        loop.close()
    hub.detach()
    assert not bus.wanted(RESYNC["type"])  # the credentials listener wants only its own type


def test_a_broken_interest_counts_as_wanting_the_message() -> None:
    bus = LocalEventBus()

    def broken(kind: str) -> bool:
        raise RuntimeError("bug")

    bus.subscribe(lambda message: None, broken)
    assert bus.wanted(JOB_UPDATED)
