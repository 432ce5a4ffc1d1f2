"""`/healthz` (the process answers), `/readyz` (database reachable, migrations current, executor running) and
`/metrics` (Prometheus)."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from portal.db import migrate
from portal.errors import Forbidden, Unauthorized
from portal.execution import executor as executors
from portal.health import metrics
from portal.settings import get_settings

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="health-live")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", operation_id="health-ready")
def readyz() -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        current, head = migrate.revisions()
        checks["database"] = "ok"
        checks["migrations"] = "ok" if current == head else f"at {current}, expected {head}"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
        checks["migrations"] = "unknown"
    executor = executors.current()
    checks["executor"] = "ok" if getattr(executor, "started", False) else "not running"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(request: Request) -> Response:
    """Prometheus text: with `PORTAL_METRICS_TOKEN` set, its bearer token; otherwise the allowed networks."""
    settings = get_settings()
    if settings.metrics_token:
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {settings.metrics_token}".encode()):
            raise Unauthorized("metrics need the bearer token of PORTAL_METRICS_TOKEN")
    elif not metrics.allowed(request.client.host if request.client else None, settings.metrics_allow):
        raise Forbidden("metrics are served to the networks in PORTAL_METRICS_ALLOW only")
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
