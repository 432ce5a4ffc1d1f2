"""A flood of anonymous logins against one portal: do `/healthz` and the API keep answering, and how fast?

The floors are `/healthz` and `GET /api/jobs` (a database read, with a token) on the same idle server; then a
process of its own keeps 200 wrong logins for unknown usernames in flight at once, from 200 client addresses
(through a trusted proxy's X-Forwarded-For, so no address is throttled: only the bounded logins protect the
server), each sent again as soon as it is answered, while both are timed again from this process. Before the
bounded logins, 200 logins at once made `/healthz` take 8.8 s.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import secrets
import time
from collections import Counter
from typing import Any

import httpx

from bench.common import (
    CorrectnessError,
    Server,
    auth,
    data_dir,
    latency_summary,
    ms,
    percentile,
    show,
    timed_gets,
    write_results,
)

NAME = "logins"
FLOOD_CONNECTIONS = 200
FLOOD_SECONDS = 15.0
HEALTH_REQUESTS = 200
PROBE_INTERVAL = 0.02
TARGET_RATIO = 20.0  # p95 under the flood, to the idle median of the same request
PROBES = {"healthz": ("/healthz", {}), "jobs": ("/api/jobs", {"page_size": 5})}


async def _flood_async(url: str, stop: Any, going: Any, codes: Any) -> None:
    counted: Counter[int] = Counter()

    async def one(n: int, client: httpx.AsyncClient) -> None:
        headers = {"X-Forwarded-For": f"10.9.{n // 250}.{n % 250}"}
        while not stop.is_set():
            body = {"username": f"flood-{secrets.token_hex(4)}", "password": "wrong-password"}
            counted[(await client.post("/api/auth/login", json=body, headers=headers)).status_code] += 1
            if counted.total() == FLOOD_CONNECTIONS:
                going.set()

    limits = httpx.Limits(max_connections=FLOOD_CONNECTIONS, max_keepalive_connections=FLOOD_CONNECTIONS)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        await asyncio.gather(*(one(n, client) for n in range(FLOOD_CONNECTIONS)))
    codes.update(counted)


def _flood(url: str, stop: Any, going: Any, codes: Any) -> None:
    """The flood, in a process of its own: its client work does not share this process's interpreter lock."""
    asyncio.run(_flood_async(url, stop, going, codes))


def _timed(client: httpx.Client, path: str, params: dict[str, Any], seconds: float) -> list[float]:
    """One request every PROBE_INTERVAL for `seconds`: samples spread over the whole flood, not a burst."""
    times: list[float] = []
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        begin = time.perf_counter()
        response = client.get(path, params=params)
        times.append(time.perf_counter() - begin)
        if response.status_code != 200:
            raise CorrectnessError(f"{path} answered {response.status_code} under a flood of logins")
        time.sleep(max(0.0, PROBE_INTERVAL - (time.perf_counter() - begin)))
    return times


def run() -> dict[str, Any]:
    """Run the scenario, print its figures and return them."""
    idle: dict[str, list[float]] = {}
    flooded: dict[str, list[float]] = {}
    spawn = multiprocessing.get_context("spawn")
    with spawn.Manager() as manager, data_dir(NAME) as data:
        stop, going, shared = manager.Event(), manager.Event(), manager.dict()
        with Server(data, settings={"PORTAL_TRUSTED_PROXIES": "127.0.0.1"}) as server:
            token = server.create_token()
            with httpx.Client(base_url=server.base_url, timeout=60, headers=auth(token)) as client:
                for name, (path, params) in PROBES.items():
                    idle[name], _ = timed_gets(client, path, params, HEALTH_REQUESTS)
                    show(f"[{NAME}] floor: {path} idle median {ms(percentile(idle[name], 50)):.2f} ms")
                flood = spawn.Process(target=_flood, args=(server.base_url, stop, going, shared))
                flood.start()
                try:
                    if not going.wait(60):
                        raise CorrectnessError("the flood of logins never got going")
                    time.sleep(1.0)  # every connection has sent a few
                    for name, (path, params) in PROBES.items():
                        flooded[name] = _timed(client, path, params, FLOOD_SECONDS / len(PROBES))
                finally:
                    stop.set()
                    flood.join(60)
        codes = Counter[int](dict(shared))
    if set(codes) - {401, 429}:
        raise CorrectnessError(f"logins of the flood answered {dict(codes)}")
    figures: dict[str, Any] = {
        "flood_connections": FLOOD_CONNECTIONS,
        "logins": {"checked_401": codes[401], "turned_away_429": codes[429]},
        "target_ratio": TARGET_RATIO,
    }
    show(f"[{NAME}] logins during the flood: {codes[401]} checked (401), {codes[429]} turned away (429)")
    for name, (path, _) in PROBES.items():
        floor = percentile(idle[name], 50)
        summary = latency_summary(flooded[name])
        ratio = percentile(flooded[name], 95) / floor
        figures[name] = {"floor": latency_summary(idle[name]), "under_flood": summary, "ratio_p95_to_floor": ratio}
        verdict = "target met" if ratio <= TARGET_RATIO else "target missed"
        show(
            f"[{NAME}] {path} under {FLOOD_CONNECTIONS} logins in flight: median {summary['median_ms']:.2f} ms, "
            f"p95 {summary['p95_ms']:.2f} ms, max {summary['max_ms']:.2f} ms; ratio p95/floor {ratio:.1f} "
            f"(target <= {TARGET_RATIO:g}: {verdict})"
        )
    show(f"[{NAME}] results in {write_results(NAME, figures)}")
    return figures
