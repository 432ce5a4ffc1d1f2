"""Catalog API: browse items, describe versions, download bundles, and import from folders, Git and uploads."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from portal.auth.deps import Admin, Publisher, Viewer
from portal.catalog import local_roots, network, service
from portal.catalog import queries as catalog_queries
from portal.catalog.schemas import (
    DRAFT,
    Descriptor,
    GitImportRequest,
    ImportReport,
    ItemOut,
    ItemPage,
    LocalImportRequest,
    LocalRoots,
    LocalValidateRequest,
    NetworkAccess,
    NetworkAccessUpdate,
    ValidationReport,
    VersionOut,
    WebhookOut,
)
from portal.identity.roles import Role
from portal.jobs import imports
from portal.jobs.schemas import JobOut
from portal.ratelimit import limiter
from portal.responses import download
from portal.settings import get_settings

router = APIRouter(prefix="/api/catalog", tags=["catalog"])

UPLOAD_PATHS = ("/api/catalog/bundle/upload", "/api/catalog/validate")


@router.get("", operation_id="catalog-list", response_model=ItemPage)
def list_items(
    _: Viewer,
    q: str | None = Query(default=None, max_length=200, description="search id, name and description"),
    category: str | None = Query(default=None, max_length=100),
    tag: str | None = Query(default=None, max_length=100),
    page: int = Query(default=1, ge=1, le=10_000),
    page_size: int = Query(default=200, ge=1, le=1000),
) -> Response:
    return Response(catalog_queries.list_items_json(q, category, tag, page, page_size), media_type="application/json")


@router.get("/{item_id}", operation_id="catalog-get", response_model=ItemOut)
def get_item(item_id: str, principal: Viewer) -> ItemOut:
    """One item: its name, owner, tags, channels, featured flag and the notice its maintainers show requesters.
    An item with no version that runs is shown to publishers only."""
    return catalog_queries.get_item(item_id, unreleased=principal.has(Role.publisher))


@router.get("/{item_id}/versions", operation_id="catalog-list-versions", response_model=list[VersionOut])
def list_versions(item_id: str, principal: Viewer) -> list[VersionOut]:
    """The versions that run (active and deprecated), highest first; publishers also see the others (drafts,
    versions in review, rejected and archived ones) with their `status`."""
    return catalog_queries.list_versions(item_id, every_state=principal.has(Role.publisher))


@router.get(
    "/{item_id}/{version}/descriptor",
    operation_id="catalog-get-descriptor",
    response_model=Descriptor,
    response_model_by_alias=True,
)
def get_descriptor(item_id: str, version: str, _: Viewer) -> Descriptor:
    """Manifest, schema, uiSchema and README of a version; `latest` is the highest active release."""
    return catalog_queries.get_descriptor(item_id, version)


@router.get("/{item_id}/{version}/bundle", operation_id="catalog-download-bundle", response_class=FileResponse)
def download_bundle(item_id: str, version: str, _: Publisher) -> Response:
    """The version's immutable `.tar.gz` bundle (publisher+)."""
    return download(*catalog_queries.bundle_file(item_id, version))


@router.get("/local/roots", operation_id="catalog-local-roots", response_model=LocalRoots)
def list_local_roots(_: Publisher) -> LocalRoots:
    """The folders a folder import may read (PORTAL_CATALOG_LOCAL_ROOTS), absolute. Role: publisher."""
    return LocalRoots(roots=[str(root) for root in local_roots.allowed_roots()])


@router.post("/local/import", operation_id="catalog-import-local", response_model=ImportReport)
def import_local(body: LocalImportRequest, principal: Publisher) -> ImportReport:
    """Register the item versions of a folder under an allowed root; all of them or, on any problem, none."""
    return imports.import_local(
        principal, body.path, replace=body.replace, development=body.development, draft=body.draft
    )


@router.post("/local/validate", operation_id="catalog-validate-local", response_model=ValidationReport)
def validate_local(body: LocalValidateRequest, _: Publisher) -> ValidationReport:
    """Every problem of the item versions in a folder, with file and line, without registering anything."""
    return service.validate_local(body.path)


@router.post("/git/import", operation_id="catalog-import-git", response_model=JobOut, status_code=202)
def import_git(body: GitImportRequest, principal: Publisher) -> JobOut:
    """Queue an import of tag `item_id@version` (or a ref) as a `catalog_import` job; follow it like any job.
    Counts as a job submission of the publisher's (PORTAL_JOB_SUBMIT_RATE_PER_MINUTE)."""
    limiter.check("job submission", principal.id or 0, get_settings().job_submit_rate_per_minute)
    return imports.start_import(principal, dataclasses.replace(body, repo_url=body.repo_url.strip()))


@router.post("/git/webhook", operation_id="catalog-git-webhook", response_model=WebhookOut, status_code=202)
async def git_webhook(request: Request) -> WebhookOut:
    """GitHub (`X-Hub-Signature-256`) or GitLab (`X-Gitlab-Token`) push events: one import per `id@semver` tag."""
    body = await request.body()
    result = await run_in_threadpool(imports.handle_webhook, request.headers, body)
    return WebhookOut(
        provider=result.provider, repository=result.repository, accepted=result.accepted, ignored=result.ignored
    )


@router.post("/bundle/upload", operation_id="catalog-upload-bundle", response_model=ImportReport)
def upload_bundle(
    principal: Publisher,
    file: Annotated[UploadFile, File(description="a .tar.gz holding one or more item versions")],
    replace: Annotated[bool, Form()] = False,
    draft: Annotated[bool, Form(description=DRAFT)] = False,
) -> ImportReport:
    """Validate and register an uploaded bundle (size-limited while it streams in)."""
    return imports.import_upload(principal, file.filename or "upload.tar.gz", file.file, replace=replace, draft=draft)


@router.post("/validate", operation_id="catalog-validate-bundle", response_model=ValidationReport)
def validate_bundle(
    _: Publisher,
    file: Annotated[UploadFile, File(description="a .tar.gz to check without registering it")],
) -> ValidationReport:
    """Every problem of an upload, with file and line, without registering anything (the import preview)."""
    return service.validate_upload(file.filename or "upload.tar.gz", file.file)


admin_router = APIRouter(prefix="/api/admin/catalog", tags=["admin"])


@admin_router.get("/{item_id}/network", operation_id="catalog-get-network", response_model=NetworkAccess)
def get_network(item_id: str, _: Admin) -> NetworkAccess:
    """What network access the item's versions declare, and what an admin allowed. Role: admin."""
    return network.get_access(item_id)


@admin_router.put("/{item_id}/network", operation_id="catalog-set-network", response_model=NetworkAccess)
def set_network(item_id: str, body: NetworkAccessUpdate, principal: Admin) -> NetworkAccess:
    """Allow what the item's versions declare now (a later version that asks for more needs this again), or
    withdraw it: jobs that need it are refused, queued ones fail when they start. Audited. Role: admin."""
    return network.set_access(principal, item_id, body.allowed)
