"""ASGI middleware: request ids and client ips in context, a body size limit, and security headers."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal import instruments
from portal.context import client_ip_var, request_id_var
from portal.errors import PayloadTooLarge
from portal.logs import ACCESS_LOGGER

REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]
# Only on responses to HTTPS requests (a browser ignores it on plain HTTP anyway): stay on HTTPS for a year.
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class _TooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException so FastAPI's body parsing lets it through."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"the request body is larger than {limit} bytes")


class RequestContextMiddleware:
    """Give each request an id (kept from `X-Request-ID` when sane), echo it, and enforce a body size limit."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, large_bodies: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.large_bodies = large_bodies or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        sent_id = headers.get(REQUEST_ID_HEADER, b"").decode("latin-1")
        request_id = sent_id if _REQUEST_ID_RE.match(sent_id) else uuid.uuid4().hex
        client = scope.get("client")
        request_id_var.set(request_id)
        client_ip_var.set(client[0] if client else None)
        scope.setdefault("state", {})["request_id"] = request_id
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        limit = self.large_bodies.get(scope.get("path", ""), self.max_body_bytes)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _reject(send, request_id, limit)
            return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    *SECURITY_HEADERS,
                    *([HSTS] if scope.get("scheme") == "https" else []),
                ]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _TooLarge:
            if not response_started:
                await _reject(send, request_id, limit)


access_log = logging.getLogger(ACCESS_LOGGER)


class MetricsMiddleware:
    """Time every HTTP request by its route template (bounded labels) and write one access log record."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or "(unmatched)"
            instruments.observe_request(scope["method"], route, status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %s",
                    scope["method"],
                    scope.get("path", ""),
                    status,
                    extra={
                        "method": scope["method"],
                        "path": scope.get("path", ""),
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": (scope.get("client") or [None])[0],
                    },
                )


async def _reject(send: Send, request_id: str, limit: int) -> None:
    error = PayloadTooLarge(f"the request body is larger than {limit} bytes", details={"limit": limit})
    body = json.dumps(error.to_body(request_id)).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        *SECURITY_HEADERS,
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
