"""`/healthz` (the process answers) and `/readyz` (database reachable, migrations current, executor running)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from portal.db import migrate
from portal.execution import executor as executors

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
