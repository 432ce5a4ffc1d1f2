"""Request dependencies: who is calling (`CurrentUser`) and what role a route needs (`require`)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security, WebSocket
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from portal.auth import credentials
from portal.errors import Forbidden, Unauthorized
from portal.identity.principal import Principal
from portal.identity.roles import Role
from portal.settings import get_settings

SESSION_COOKIE = "portal_session"
CSRF_COOKIE = "portal_csrf"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

# The two ways in, as the OpenAPI document's security schemes (Swagger UI's Authorize button); `current_principal`
# reads the headers itself, these only describe them.
_TOKEN_SCHEME = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    bearerFormat="ptk_...",
    description="An API token (`portal tokens create USERNAME --name ...`, or the Profile page).",
)
_SESSION_SCHEME = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="browserSession",
    description="The web app's session cookie; unsafe methods also need `X-CSRF-Token` (the portal_csrf cookie).",
)


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _resolve(authorization: str | None, session_cookie: str | None) -> Principal | None:
    token = _bearer(authorization)
    if token is not None:
        return credentials.principal_from_token(token, get_settings().token_touch_seconds)
    if session_cookie:
        return credentials.principal_from_session(session_cookie)
    return None


async def current_principal(
    request: Request,
    _token: Annotated[HTTPAuthorizationCredentials | None, Security(_TOKEN_SCHEME)] = None,
    _session: Annotated[str | None, Security(_SESSION_SCHEME)] = None,
) -> Principal:
    """The authenticated caller; 401 otherwise. Cookie sessions must echo the CSRF token on unsafe methods."""
    authorization = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    principal = credentials.cached_principal(_bearer(authorization), None if authorization else cookie)
    if principal is None:
        principal = await run_in_threadpool(_resolve, authorization, cookie)
    if principal is None:
        if authorization:
            raise Unauthorized("invalid, expired or revoked token")
        raise Unauthorized("authentication required")
    if principal.via == "session" and request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not principal.csrf_token or not hmac.compare_digest(sent, principal.csrf_token):
            raise Forbidden(
                "missing or wrong CSRF token (send the portal_csrf cookie's value as X-CSRF-Token)", code="csrf_failed"
            )
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits callers with at least `role`."""

    async def dependency(principal: CurrentUser) -> Principal:  # a check only: no thread hop needed
        if not principal.has(role):
            raise Forbidden(f"this needs the {role.name} role")
        return principal

    dependency.__name__ = f"require_{role.name}"
    return dependency


def websocket_principal(websocket: WebSocket) -> Principal | None:
    """Authenticate a WebSocket handshake like any request; browsers' cookie sessions must come from our origin."""
    authorization = websocket.headers.get("authorization")
    if _bearer(authorization) is None:
        origin = websocket.headers.get("origin")
        host = websocket.headers.get("host")
        if origin and host and origin.split("://", 1)[-1] != host:
            return None
    return _resolve(authorization, websocket.cookies.get(SESSION_COOKIE))


Requester = Annotated[Principal, Depends(require(Role.requester))]
Operator = Annotated[Principal, Depends(require(Role.operator))]
Publisher = Annotated[Principal, Depends(require(Role.publisher))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
Viewer = Annotated[Principal, Depends(require(Role.viewer))]
