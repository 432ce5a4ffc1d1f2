"""WebSocket endpoints: `/ws/jobs` (every job the caller may see) and `/ws/jobs/{id}` (one job and its logs)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from portal.auth.deps import websocket_principal
from portal.errors import NotFound
from portal.identity.principal import Principal
from portal.identity.roles import Role
from portal.jobs import queries as jobs_queries
from portal.jobs.states import JobState
from portal.realtime.hub import Client, hub
from portal.realtime.messages import PING_TEXT
from portal.settings import get_settings
from portal.values import MAX_ID

router = APIRouter()
POLICY_VIOLATION = 1008


def _owner(message: dict[str, Any]) -> Any:
    if message.get("type") == "job.updated":
        return message["job"].get("created_by")
    return message.get("created_by")


async def _still_allowed(websocket: WebSocket, principal: Principal) -> bool:
    """A stream lives longer than a request: logout, a revoked token, a disabled user or a changed role ends it.
    Checked against the database, never a cache."""
    current = await run_in_threadpool(websocket_principal, websocket)
    return current is not None and (current.id, current.role) == (principal.id, principal.role)


async def _serve(websocket: WebSocket, client: Client, principal: Principal) -> None:
    """Send the client's queued messages until it disconnects, overflows, loses its rights, or the server stops.

    Its credentials are rechecked every `ws_recheck_seconds` whatever the traffic, and at once (before anything
    more is sent) when the bus says its user's credentials changed on any node.
    """
    settings = get_settings()
    loop = asyncio.get_running_loop()
    hub.add(client)
    receiver = asyncio.create_task(_drain_incoming(websocket))
    getter: asyncio.Task[str | None] | None = None
    rechecker = asyncio.create_task(client.recheck.wait())
    # The first recheck comes at once: a credential revoked between the handshake's check and `hub.add` missed
    # its event, and must not stream for a whole period.
    recheck_at = loop.time()
    ping_at = loop.time() + settings.ws_ping_seconds
    try:
        while True:
            if getter is None:
                getter = asyncio.create_task(client.queue.get())
            done, _ = await asyncio.wait(
                {getter, receiver, rechecker},
                timeout=max(0.0, min(recheck_at, ping_at) - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if receiver in done:
                break
            if client.recheck.is_set() or loop.time() >= recheck_at:
                client.recheck.clear()
                if rechecker.done():
                    rechecker = asyncio.create_task(client.recheck.wait())
                if not await _still_allowed(websocket, principal):
                    await websocket.close(code=POLICY_VIOLATION, reason="credentials no longer valid")
                    break
                recheck_at = loop.time() + settings.ws_recheck_seconds
            if getter.done():
                text = getter.result()
                getter = None
                if text is None:
                    break
                await websocket.send_text(text)
                ping_at = loop.time() + settings.ws_ping_seconds
            elif loop.time() >= ping_at:
                await websocket.send_text(PING_TEXT)
                ping_at = loop.time() + settings.ws_ping_seconds
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        hub.remove(client)
        for task in (receiver, rechecker, getter):
            if task is not None:
                task.cancel()
        with contextlib.suppress(Exception):
            await websocket.close()


async def _drain_incoming(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a disconnect is noticed at once."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()


async def _authenticate(websocket: WebSocket) -> Principal | None:
    principal = await run_in_threadpool(websocket_principal, websocket)
    if principal is None:
        await websocket.close(code=POLICY_VIOLATION, reason="authentication required")
    return principal


@router.websocket("/ws/jobs")
async def jobs_stream(websocket: WebSocket) -> None:
    principal = await _authenticate(websocket)
    if principal is None:
        return
    await websocket.accept()

    admin = principal.has(Role.admin)

    def accepts(message: dict[str, Any]) -> bool:
        if message.get("type") == "sources.updated":
            return admin  # a source's status changed (the Sources page is the admins')
        return message.get("type") == "job.updated" and jobs_queries.may_see(principal, _owner(message))

    client = Client(loop=asyncio.get_running_loop(), accepts=accepts, user_id=principal.id)
    await _serve(websocket, client, principal)


@router.websocket("/ws/jobs/{job_id}")
async def job_stream(websocket: WebSocket, job_id: int) -> None:
    principal = await _authenticate(websocket)
    if principal is None:
        return
    try:
        if not 1 <= job_id <= MAX_ID:
            raise NotFound(f"job {job_id} not found")
        owner = await run_in_threadpool(jobs_queries.visible_owner, principal, job_id)
    except NotFound:
        await websocket.close(code=POLICY_VIOLATION, reason="job not found")
        return
    await websocket.accept()
    # An approver who may not otherwise see the job sees it while it waits for approval, and no longer: the
    # stream ends with the update that takes it out of that state (REST answers 404 from then on).
    approver_only = not jobs_queries.may_see(principal, owner)

    def ours(message: dict[str, Any]) -> bool:
        return message.get("type") == "job.updated" and message["job"].get("id") == job_id

    def accepts(message: dict[str, Any]) -> bool:
        if ours(message):
            return not ends(message)
        return not approver_only and message.get("type") == "job.log" and message.get("job_id") == job_id

    def ends(message: dict[str, Any]) -> bool:
        return approver_only and ours(message) and message["job"].get("state") != JobState.PENDING_APPROVAL.value

    client = Client(loop=asyncio.get_running_loop(), accepts=accepts, ends=ends, user_id=principal.id)
    await _serve(websocket, client, principal)
