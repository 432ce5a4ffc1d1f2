"""Secrets: stored encrypted, granted per catalog item, decrypted only for the job that declares them."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.auth.principal import Principal
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict, NotFound
from portal.secrets import crypto
from portal.secrets.models import Secret, SecretGrant
from portal.secrets.schemas import SecretCreate, SecretOut, SecretUpdate


def _view(s: Session, secret: Secret) -> SecretOut:
    items = sorted(s.scalars(select(SecretGrant.item_id).where(SecretGrant.secret_id == secret.id)))
    return SecretOut(
        name=secret.name,
        description=secret.description,
        items=items,
        created_by=secret.created_by_name,
        created_at=secret.created_at,
        updated_at=secret.updated_at,
    )


def _get(s: Session, name: str) -> Secret:
    secret = s.scalar(select(Secret).where(Secret.name == name))
    if secret is None:
        raise NotFound(f"secret {name!r} not found", details={"field": "name"})
    return secret


def _grant(s: Session, secret: Secret, items: list[str]) -> None:
    s.execute(delete(SecretGrant).where(SecretGrant.secret_id == secret.id))
    for item_id in sorted(set(items)):
        s.add(SecretGrant(secret_id=secret.id, item_id=item_id))


def list_secrets() -> list[SecretOut]:
    with db.read() as s:
        return [_view(s, secret) for secret in s.scalars(select(Secret).order_by(Secret.name))]


def create_secret(actor: Principal, body: SecretCreate) -> SecretOut:
    with db.write() as s:
        if s.scalar(select(Secret.id).where(Secret.name == body.name)) is not None:
            raise Conflict(f"secret {body.name!r} already exists", details={"field": "name"})
        secret = Secret(
            name=body.name,
            description=body.description,
            ciphertext=crypto.encrypt(body.value),
            created_by_name=actor.username,
        )
        s.add(secret)
        s.flush()
        _grant(s, secret, body.items)
        s.flush()
        view = _view(s, secret)
        audit.record(
            s, actor, "secret.create", target_type="secret", target_id=body.name, details={"items": view.items}
        )
    return view


def update_secret(actor: Principal, name: str, body: SecretUpdate) -> SecretOut:
    """Rotate the value, edit the description or replace the grants; the audit entry never holds the value."""
    with db.write() as s:
        secret = _get(s, name)
        before = _view(s, secret)
        if body.value is not None:
            secret.ciphertext = crypto.encrypt(body.value)
        if body.description is not None:
            secret.description = body.description
        if body.items is not None:
            _grant(s, secret, body.items)
        secret.updated_at = utcnow()
        s.flush()
        after = _view(s, secret)
        audit.record(
            s,
            actor,
            "secret.update",
            target_type="secret",
            target_id=name,
            details={
                "before": {"description": before.description, "items": before.items},
                "after": {"description": after.description, "items": after.items},
                "value_changed": body.value is not None,
            },
        )
    return after


def delete_secret(actor: Principal, name: str) -> None:
    with db.write() as s:
        secret = _get(s, name)
        s.delete(secret)
        audit.record(s, actor, "secret.delete", target_type="secret", target_id=name)


def missing_for(item_id: str, names: tuple[str, ...] | list[str]) -> list[str]:
    """Which of `names` do not exist or are not granted to `item_id` (a job could not get them)."""
    if not names:
        return []
    with db.read() as s:
        granted = set(
            s.scalars(
                select(Secret.name)
                .join(SecretGrant, SecretGrant.secret_id == Secret.id)
                .where(Secret.name.in_(list(names)), SecretGrant.item_id == item_id)
            )
        )
    return [name for name in names if name not in granted]


def values_for(item_id: str, names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """The decrypted values of the secrets a job of `item_id` declares (Conflict when one is not granted)."""
    missing = missing_for(item_id, names)
    if missing:
        raise Conflict(
            f"secrets not granted to {item_id}: {', '.join(missing)}", details={"item_id": item_id, "missing": missing}
        )
    with db.read() as s:
        rows = s.execute(select(Secret.name, Secret.ciphertext).where(Secret.name.in_(list(names)))).all()
    return {name: crypto.decrypt(ciphertext) for name, ciphertext in rows}
