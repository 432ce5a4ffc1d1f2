"""Login, logout, the caller's identity, users and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from portal.auth import login_throttle, logins, service, tokens
from portal.auth.deps import CSRF_COOKIE, SESSION_COOKIE, Admin, CurrentUser
from portal.auth.schemas import (
    LoginLockOut,
    LoginRequest,
    MeOut,
    PasswordChange,
    PasswordReset,
    PasswordResetDone,
    TokenCreate,
    TokenCreated,
    TokenOut,
    TokenPage,
    UserCreate,
    UserCreated,
    UserOut,
    UserUpdate,
)
from portal.identity.roles import ROLE_NAMES
from portal.responses import RowId
from portal.settings import get_settings

router = APIRouter(prefix="/api", tags=["auth"])


@router.post(
    "/auth/login",
    operation_id="auth-login",
    response_model=MeOut,
    responses={429: {"description": "too many failed logins of this username or from this address (Retry-After)"}},
)
async def login(body: LoginRequest, request: Request, response: Response) -> MeOut:
    """Log in with a password; sets the session cookie and the CSRF cookie. Throttled per username and per
    client address (429 with Retry-After). Role: none (public)."""
    settings = get_settings()
    client = request.client.host if request.client else ""
    result = await logins.login(
        body.username, body.password, client=client, user_agent=request.headers.get("user-agent")
    )
    max_age = int(settings.session_hours * 3600)
    # Secure whenever the browser came over HTTPS (behind a trusted proxy, as its X-Forwarded-Proto says).
    secure = settings.session_cookie_secure or request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE,
        result.session_secret,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        result.csrf_token,
        max_age=max_age,
        httponly=False,
        samesite="lax",
        secure=secure,
        path="/",
    )
    p = result.principal
    return MeOut(username=p.username, role=p.role.name, via="session", csrf_token=result.csrf_token)


@router.post("/auth/logout", operation_id="auth-logout", status_code=204)
def logout(principal: CurrentUser, request: Request, response: Response) -> Response:
    """End this browser session. Role: any logged-in user."""
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        service.logout(principal, secret)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/auth/me", operation_id="auth-me", response_model=MeOut)
def me(principal: CurrentUser) -> MeOut:
    """Who the caller is. Role: any logged-in user."""
    return MeOut(
        username=principal.username, role=principal.role.name, via=principal.via, csrf_token=principal.csrf_token
    )


@router.post("/auth/password", operation_id="auth-change-password", status_code=204)
def change_password(body: PasswordChange, principal: CurrentUser, request: Request) -> Response:
    """Change your own password; your other sessions end, this one stays. Role: any logged-in user."""
    keep = request.cookies.get(SESSION_COOKIE) if principal.via == "session" else None
    service.change_password(principal, body.current_password, body.new_password, keep)
    return Response(status_code=204)


@router.get("/auth/tokens", operation_id="tokens-list", response_model=list[TokenOut])
def list_my_tokens(principal: CurrentUser) -> list[TokenOut]:
    """Your API tokens. Role: any logged-in user."""
    return tokens.list_tokens(principal)


@router.post("/auth/tokens", operation_id="tokens-create", response_model=TokenCreated, status_code=201)
def create_my_token(body: TokenCreate, principal: CurrentUser) -> TokenCreated:
    """Create an API token for yourself (the secret is shown once). Role: any logged-in user."""
    view, secret = tokens.create_token(principal, principal.username, body.name, body.expires_days)
    return TokenCreated(token=view, secret=secret)


@router.delete("/auth/tokens/{token_id}", operation_id="tokens-revoke", status_code=204)
def revoke_token(token_id: RowId, principal: CurrentUser) -> Response:
    """Revoke one of your API tokens. Role: any logged-in user."""
    tokens.revoke_token(principal, token_id)
    return Response(status_code=204)


@router.get("/admin/users", operation_id="users-list", response_model=list[UserOut], tags=["admin"])
def list_users(
    _: Admin,
    q: str | None = Query(default=None, max_length=200, description="part of the username or display name"),
    role: str | None = Query(default=None, pattern=f"^({'|'.join(ROLE_NAMES)})$"),
    disabled: bool | None = None,
) -> list[UserOut]:
    """Users by username, filtered. Role: admin."""
    return service.list_users(q=q, role=role, disabled=disabled)


@router.post("/admin/users", operation_id="users-create", response_model=UserCreated, status_code=201, tags=["admin"])
def create_user(body: UserCreate, principal: Admin) -> UserCreated:
    """Create a user (a generated password is returned once when none is given). Role: admin."""
    view, generated = service.create_user(principal, body.username, body.role, body.password, body.display_name)
    return UserCreated(user=view, generated_password=generated)


@router.get("/admin/users/{user_id}", operation_id="users-get", response_model=UserOut, tags=["admin"])
def get_user(user_id: RowId, _: Admin) -> UserOut:
    """One user. Role: admin."""
    return service.get_user(user_id)


@router.patch("/admin/users/{user_id}", operation_id="users-update", response_model=UserOut, tags=["admin"])
def update_user(user_id: RowId, body: UserUpdate, principal: Admin) -> UserOut:
    """Change a user's role, display name or disabled flag (never the last enabled admin's, nor your own).

    Role: admin."""
    return service.update_user(
        principal, user_id, role=body.role, disabled=body.disabled, display_name=body.display_name
    )


@router.post(
    "/admin/users/{user_id}/reset-password",
    operation_id="users-reset-password",
    response_model=PasswordResetDone,
    tags=["admin"],
)
def reset_password(user_id: RowId, principal: Admin, body: PasswordReset | None = None) -> PasswordResetDone:
    """Set another user's password (generated when the body has none) and end their sessions. Role: admin."""
    generated = service.reset_password(principal, user_id, body.password if body else None)
    return PasswordResetDone(generated_password=generated)


@router.get("/admin/tokens", operation_id="tokens-admin-list", response_model=TokenPage, tags=["admin"])
def list_all_tokens(
    _: Admin,
    username: str | None = Query(default=None, max_length=64),
    active: bool | None = Query(default=None, description="true: only tokens that work now; false: only the others"),
    page: int = Query(default=1, ge=1, le=100_000),
    page_size: int = Query(default=50, ge=1, le=1000),
) -> TokenPage:
    """Every user's API tokens, newest first. Role: admin."""
    return tokens.list_all_tokens(username=username, active=active, page=page, page_size=page_size)


@router.delete("/admin/tokens/{token_id}", operation_id="tokens-admin-revoke", status_code=204, tags=["admin"])
def revoke_any_token(token_id: RowId, principal: Admin) -> Response:
    """Revoke any user's API token. Role: admin."""
    tokens.revoke_token(principal, token_id)
    return Response(status_code=204)


@router.get("/admin/login-locks", operation_id="login-locks-list", response_model=list[LoginLockOut], tags=["admin"])
def list_login_locks(_: Admin) -> list[LoginLockOut]:
    """Usernames whose logins are locked or backing off now (known users and unknown names alike), the most
    recent first. Role: admin."""
    return login_throttle.throttled()


@router.delete("/admin/login-locks/{username}", operation_id="login-locks-clear", status_code=204, tags=["admin"])
def clear_login_lock(username: Annotated[str, Path(max_length=64)], principal: Admin) -> Response:
    """Unlock a username: its failed logins are forgotten (audited as `auth.login_unlocked`). Role: admin."""
    login_throttle.unlock(principal, username)
    return Response(status_code=204)
