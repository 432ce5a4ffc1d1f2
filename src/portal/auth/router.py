"""Login, logout, the caller's identity, users and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from portal.auth import service
from portal.auth.deps import CSRF_COOKIE, SESSION_COOKIE, Admin, CurrentUser
from portal.auth.schemas import (
    LoginRequest,
    MeOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserCreate,
    UserCreated,
    UserOut,
)
from portal.settings import get_settings

router = APIRouter(prefix="/api", tags=["auth"])


@router.post("/auth/login", operation_id="auth-login", response_model=MeOut)
def login(body: LoginRequest, request: Request, response: Response) -> MeOut:
    settings = get_settings()
    result = service.login(
        body.username, body.password, session_hours=settings.session_hours, user_agent=request.headers.get("user-agent")
    )
    max_age = int(settings.session_hours * 3600)
    response.set_cookie(
        SESSION_COOKIE,
        result.session_secret,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=settings.session_cookie_secure,
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        result.csrf_token,
        max_age=max_age,
        httponly=False,
        samesite="lax",
        secure=settings.session_cookie_secure,
        path="/",
    )
    p = result.principal
    return MeOut(username=p.username, role=p.role.name, via="session", csrf_token=result.csrf_token)


@router.post("/auth/logout", operation_id="auth-logout", status_code=204)
def logout(principal: CurrentUser, request: Request, response: Response) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        service.logout(principal, secret)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/auth/me", operation_id="auth-me", response_model=MeOut)
def me(principal: CurrentUser) -> MeOut:
    return MeOut(
        username=principal.username, role=principal.role.name, via=principal.via, csrf_token=principal.csrf_token
    )


@router.get("/auth/tokens", operation_id="tokens-list", response_model=list[TokenOut])
def list_my_tokens(principal: CurrentUser) -> list[TokenOut]:
    return service.list_tokens(principal)


@router.post("/auth/tokens", operation_id="tokens-create", response_model=TokenCreated, status_code=201)
def create_my_token(body: TokenCreate, principal: CurrentUser) -> TokenCreated:
    view, secret = service.create_token(principal, principal.username, body.name, body.expires_days)
    return TokenCreated(token=view, secret=secret)


@router.delete("/auth/tokens/{token_id}", operation_id="tokens-revoke", status_code=204)
def revoke_token(token_id: int, principal: CurrentUser) -> Response:
    service.revoke_token(principal, token_id)
    return Response(status_code=204)


@router.get("/admin/users", operation_id="users-list", response_model=list[UserOut], tags=["admin"])
def list_users(_: Admin) -> list[UserOut]:
    return service.list_users()


@router.post("/admin/users", operation_id="users-create", response_model=UserCreated, status_code=201, tags=["admin"])
def create_user(body: UserCreate, principal: Admin) -> UserCreated:
    view, generated = service.create_user(principal, body.username, body.role, body.password, body.display_name)
    return UserCreated(user=view, generated_password=generated)
