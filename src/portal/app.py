"""FastAPI app factory: routers, the one JSON error shape, middleware, static UI, and the embedded lifecycle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from portal import __version__, api_examples, bootstrap
from portal.admin.analytics_router import router as analytics_router
from portal.admin.catalog_router import router as catalog_administration_router
from portal.admin.catalog_transfer_router import IMPORT_PATH as CATALOG_IMPORT_PATH
from portal.admin.catalog_transfer_router import router as catalog_transfer_router
from portal.admin.router import router as admin_router
from portal.admin.storage_router import router as storage_router
from portal.audit.router import router as audit_router
from portal.auth.deps import Admin
from portal.auth.router import router as auth_router
from portal.catalog.router import UPLOAD_PATHS
from portal.catalog.router import admin_router as catalog_admin_router
from portal.catalog.router import router as catalog_router
from portal.dev.router import router as dev_router
from portal.errors import PortalError
from portal.health.router import router as health_router
from portal.jobs.router import router as jobs_router
from portal.middleware import MetricsMiddleware, RequestContextMiddleware
from portal.realtime import messages as realtime_messages
from portal.realtime.router import router as realtime_router
from portal.schedules.router import router as schedules_router
from portal.secrets.router import router as secrets_router
from portal.settings import Settings, get_settings, use_settings
from portal.sources.router import router as sources_router

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).parent / "web"
# The web app loads only its own scripts and styles; READMEs from bundles cannot pull in anything else.
# 'unsafe-eval' is for ajv, which compiles each item's JSON Schema into a validator function for the forms.
UI_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _error(
    status: int, code: str, message: str, details: Any, request: Request, headers: dict[str, str] | None = None
) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    body = {"error": {"code": code, "message": message, "details": details, "request_id": request_id}}
    return JSONResponse(body, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "(body)"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PortalError)
    async def portal_error(request: Request, exc: PortalError) -> JSONResponse:
        return _error(exc.status_code, exc.code, exc.message, exc.details, request, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error(
                400,
                "malformed_json",
                "the request body is not valid JSON",
                [{"field": "(body)", "message": str(e.get("msg"))} for e in errors],
                request,
            )
        details = [{"field": _field(e.get("loc", ())), "message": str(e.get("msg"))} for e in errors]
        return _error(422, "validation_failed", "the request is not valid", details, request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return _error(exc.status_code, code, str(exc.detail), None, request)

    @app.exception_handler(DataError)
    async def unstorable(request: Request, exc: DataError) -> JSONResponse:
        # PostgreSQL stores no NUL character in text or JSON (SQLite does): a 422, not a 500. Job inputs and
        # results are checked before, with their field named; this catches every other text field.
        if "NUL" in str(exc.orig) or "\\u0000" in str(exc.orig):
            message = "text may not hold NUL characters (\\u0000)"
            return _error(422, "validation_failed", message, [{"field": "(body)", "message": message}], request)
        return await unexpected(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(
            500,
            "internal_error",
            "an unexpected error occurred; the request id identifies it in the logs",
            None,
            request,
        )


def _mount_ui(app: FastAPI) -> None:
    index = WEB_DIR / "index.html"
    assets = WEB_DIR / "assets"
    if assets.is_dir():
        app.mount("/assets", StaticFiles(directory=assets), name="assets")

    @app.get("/{path:path}", include_in_schema=False)
    def spa(path: str) -> Response:
        if path.startswith(("api/", "ws/")):
            raise StarletteHTTPException(404, "not found")
        candidate = (WEB_DIR / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(WEB_DIR.resolve()):
            return FileResponse(candidate)
        if index.is_file():
            return FileResponse(index, headers={"cache-control": "no-cache", "content-security-policy": UI_CSP})
        return HTMLResponse(
            "<!doctype html><title>Portal</title><h1>Self-Service Portal</h1>"
            "<p>The API is running at <a href='/api/catalog'>/api</a>; the web UI is not built in this install.</p>"
        )


# Swagger UI from the package (copied from swagger-ui-dist into the web build): scripts from the portal only,
# its start script a file of its own rather than inline.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Self-Service Portal API</title>
<link rel="stylesheet" href="/api-docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api-docs/swagger-ui-bundle.js"></script>
<script src="/api-docs/init.js"></script>
</body>
</html>
"""


def _mount_api_docs(app: FastAPI) -> None:
    """The OpenAPI document and Swagger UI, for admins only (`portal openapi` prints the document offline)."""

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi_document(_: Admin) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/api/docs", include_in_schema=False)
    def swagger(_: Admin) -> HTMLResponse:
        if not (WEB_DIR / "api-docs" / "swagger-ui-bundle.js").is_file():
            return HTMLResponse(
                "<!doctype html><title>API docs</title><p>Swagger UI comes with the web app, which is not built in "
                "this install (make web). The document itself is at <a href='/api/openapi.json'>/api/openapi.json</a>.",
                headers={"content-security-policy": DOCS_CSP},
            )
        return HTMLResponse(DOCS_PAGE, headers={"content-security-policy": DOCS_CSP, "cache-control": "no-cache"})


class PortalAPI(FastAPI):
    """FastAPI with the WebSocket messages in its OpenAPI document (no route returns them, so FastAPI alone would
    leave them out, and the browser's generated types would miss them) and an example body for every operation."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            document = super().openapi()
            realtime_messages.add_to_openapi(document)
            api_examples.add_examples(document)
        return super().openapi()


def create_app(settings: Settings | None = None, *, run_executor: bool = True) -> FastAPI:
    """Build the portal application; its lifespan prepares the database and runs the embedded executor."""
    settings = settings or get_settings()
    use_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Few request threads: more only fight over the GIL (sqlite3 releases it on every step), which
        # multiplies the CPU each request costs without adding throughput.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.server_threads
        state = await run_in_threadpool(bootstrap.start, settings, run_executor)
        app.state.portal = state
        try:
            yield
        finally:
            await run_in_threadpool(bootstrap.stop, state)

    app = PortalAPI(
        title="Self-Service Portal",
        version=__version__,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    _mount_api_docs(app)
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        large_bodies={
            **dict.fromkeys(UPLOAD_PATHS, settings.catalog_upload_max_bytes),
            CATALOG_IMPORT_PATH: settings.catalog_import_max_bytes,
        },
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.include_router(health_router)
    # Routes are matched in this order: the busiest (job submission, the job list and page) come first.
    app.include_router(jobs_router)
    app.include_router(auth_router)
    app.include_router(catalog_router)
    app.include_router(catalog_administration_router)
    app.include_router(storage_router)
    app.include_router(catalog_transfer_router)
    app.include_router(analytics_router)
    app.include_router(catalog_admin_router)
    app.include_router(audit_router)
    app.include_router(admin_router)
    app.include_router(secrets_router)
    app.include_router(schedules_router)
    app.include_router(sources_router)
    app.include_router(realtime_router)
    app.include_router(dev_router, include_in_schema=settings.dev)  # 404 unless PORTAL_DEV (not a 405 of the UI's)
    _mount_ui(app)
    return app
