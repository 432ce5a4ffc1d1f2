"""`/api/admin/secrets`: named secrets for catalog items (admin only); values can be set, never read back."""

from __future__ import annotations

from fastapi import APIRouter, Response

from portal.auth.deps import Admin
from portal.secrets import service
from portal.secrets.schemas import SecretCreate, SecretExtend, SecretOut, SecretUpdate

router = APIRouter(prefix="/api/admin/secrets", tags=["admin"])


@router.get("", operation_id="secrets-list", response_model=list[SecretOut])
def list_secrets(_: Admin) -> list[SecretOut]:
    """Every secret with its description and granted items, without values. Role: admin."""
    return service.list_secrets()


@router.post("", operation_id="secrets-create", response_model=SecretOut, status_code=201)
def create_secret(body: SecretCreate, principal: Admin) -> SecretOut:
    """Store a secret encrypted and grant it to item versions (409 if the name exists; 422 naming `items[i]` for
    a bad grant). Role: admin."""
    return service.create_secret(principal, body)


@router.patch("/{name}", operation_id="secrets-update", response_model=SecretOut)
def update_secret(name: str, body: SecretUpdate, principal: Admin) -> SecretOut:
    """Rotate the value, change the description, or replace the grants. Role: admin."""
    return service.update_secret(principal, name, body)


@router.post("/{name}/extend", operation_id="secrets-extend", response_model=SecretOut)
def extend_secret(name: str, body: SecretExtend, principal: Admin) -> SecretOut:
    """Widen the secret's grants: `item@<range>` adds the range, a bare `item` the versions that exist now (e.g. a
    new version refused at launch). Audited as `secret.extend`. Role: admin."""
    return service.extend_secret(principal, name, body)


@router.delete("/{name}", operation_id="secrets-delete", status_code=204)
def delete_secret(name: str, principal: Admin) -> Response:
    """Delete a secret; jobs that declare it can no longer be launched. Role: admin."""
    service.delete_secret(principal, name)
    return Response(status_code=204)
