"""WebSocket endpoints: `/ws/jobs` (every job the caller may see) and `/ws/jobs/{id}` (one job and its logs)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from portal.auth.deps import websocket_principal
from portal.auth.principal import Principal
from portal.errors import NotFound
from portal.jobs import service as jobs_service
from portal.realtime.hub import Client, hub
from portal.settings import get_settings

router = APIRouter()
POLICY_VIOLATION = 1008


def _owner(message: dict[str, Any]) -> Any:
    if message.get("type") == "job.updated":
        return message["job"].get("created_by")
    return message.get("created_by")


async def _still_allowed(websocket: WebSocket, principal: Principal) -> bool:
    """A stream lives longer than a request: logout, a revoked token, a disabled user or a changed role ends it."""
    current = await run_in_threadpool(websocket_principal, websocket)
    return current is not None and (current.id, current.role) == (principal.id, principal.role)


async def _serve(websocket: WebSocket, client: Client, principal: Principal) -> None:
    """Send the client's queued messages until it disconnects, overflows, loses its rights, or the server stops."""
    hub.add(client)
    receiver = asyncio.create_task(_drain_incoming(websocket))
    try:
        while True:
            getter = asyncio.create_task(client.queue.get())
            done, _ = await asyncio.wait(
                {getter, receiver}, timeout=get_settings().ws_ping_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            if getter not in done:
                getter.cancel()
                if receiver in done:
                    break
                if not await _still_allowed(websocket, principal):
                    await websocket.close(code=POLICY_VIOLATION, reason="credentials no longer valid")
                    break
                await websocket.send_text('{"type":"ping"}')
                continue
            text = getter.result()
            if text is None:
                break
            await websocket.send_text(text)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        hub.remove(client)
        receiver.cancel()
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

    def accepts(message: dict[str, Any]) -> bool:
        return message.get("type") == "job.updated" and jobs_service.may_see(principal, _owner(message))

    await _serve(websocket, Client(loop=asyncio.get_running_loop(), accepts=accepts), principal)


@router.websocket("/ws/jobs/{job_id}")
async def job_stream(websocket: WebSocket, job_id: int) -> None:
    principal = await _authenticate(websocket)
    if principal is None:
        return
    try:
        await run_in_threadpool(jobs_service.visible_owner, principal, job_id)
    except NotFound:
        await websocket.close(code=POLICY_VIOLATION, reason="job not found")
        return
    await websocket.accept()

    def accepts(message: dict[str, Any]) -> bool:
        if message.get("type") == "job.updated":
            return bool(message["job"].get("id") == job_id)
        return message.get("type") == "job.log" and message.get("job_id") == job_id

    await _serve(websocket, Client(loop=asyncio.get_running_loop(), accepts=accepts), principal)
