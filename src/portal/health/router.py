"""`/livez` and `/healthz` (the process answers), `/readyz` (database reachable, migrations current, the first
reconciliation of the catalog sources done, executor running and, in the distributed mode, the broker and the
event bus reachable) and
`/metrics` (Prometheus)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from portal import instruments
from portal.errors import Forbidden, Unauthorized
from portal.health import metrics, service
from portal.settings import get_settings

router = APIRouter(tags=["health"])


@router.get("/livez", operation_id="health-livez")
async def livez() -> dict[str, str]:
    """The process answers (the liveness probe): on the event loop, never queued behind the threads' work (a
    flood of logins), and checking nothing else, so a database away does not get the process restarted."""
    return {"status": "ok"}


@router.get("/healthz", operation_id="health-live")
async def healthz() -> dict[str, str]:
    """The same as `/livez` (its older name, kept for the probes that use it)."""
    return {"status": "ok"}


@router.get("/readyz", operation_id="health-ready")
def readyz() -> JSONResponse:
    """Ready when every check is "ok". `isolation` lists the protections of the jobs this process runs, each "on"
    or "off: why" (an "off" does not make the node unready: PORTAL_JOB_ISOLATION=required refuses to start)."""
    checks = service.checks()
    ready = all(value == "ok" for value in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks, "isolation": service.isolation()}
    return JSONResponse(body, status_code=200 if ready else 503)


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
    return Response(generate_latest(instruments.REGISTRY), media_type=CONTENT_TYPE_LATEST)
