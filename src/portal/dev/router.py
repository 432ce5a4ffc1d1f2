"""`POST /api/dev/seed`: five example jobs to look at (admin only, and only with PORTAL_DEV=1: otherwise 404, as
for a path that does not exist)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from portal.auth.deps import Admin
from portal.errors import NotFound
from portal.jobs import service as jobs_service
from portal.jobs.schemas import JobOut
from portal.settings import get_settings


def _dev_mode() -> None:
    if not get_settings().dev:
        raise NotFound("not found: the development endpoints exist only with PORTAL_DEV=1")


router = APIRouter(prefix="/api/dev", tags=["dev"], dependencies=[Depends(_dev_mode)])

SEED_JOBS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "backup-config",
        "2.0.0",
        {"devices": ["router-1", "switch-2"], "bucket": "my-backup-bucket", "encryption": True, "schedule": "daily"},
    ),
    ("backup-config", "1.0.0", {"devices": ["core-router"], "bucket": "legacy-backups"}),
    (
        "system-health-check",
        "1.0.0",
        {"services": ["api", "database", "cache"], "performance_tests": True, "alert_threshold": 20},
    ),
    ("example-long-task", "1.0.0", {"label": "seeded"}),
    ("failing-task", "1.0.0", {"fail": True, "message": "seeded failure to try retry on"}),
]


@router.post("/seed", operation_id="dev-seed", response_model=list[JobOut], status_code=201)
def seed(principal: Admin) -> list[JobOut]:
    return [jobs_service.create_job(principal, item, version, inputs) for item, version, inputs in SEED_JOBS]
