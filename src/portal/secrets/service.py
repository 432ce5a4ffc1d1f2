"""Secrets: stored encrypted, granted per catalog item and version range, decrypted only for the job that declares
them and whose version a grant covers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.catalog.models import CatalogVersion
from portal.db import session as db
from portal.db.base import utcnow
from portal.errors import Conflict, NotFound
from portal.identity.principal import Principal
from portal.secrets import crypto
from portal.secrets.grants import Grant, extended, parse
from portal.secrets.models import Secret, SecretGrant
from portal.secrets.schemas import SecretCreate, SecretExtend, SecretOut, SecretUpdate, UncoveredVersion


def _grants(s: Session, secret: Secret) -> dict[str, Grant]:
    columns = (SecretGrant.item_id, SecretGrant.versions, SecretGrant.pins)
    rows = s.execute(select(*columns).where(SecretGrant.secret_id == secret.id)).all()
    return {item_id: Grant(item_id, versions, dict(pins or {})) for item_id, versions, pins in rows}


Declared = dict[str, list[tuple[str, str, str]]]


def _declaring(s: Session) -> Declared:
    """(item, version, bundle) of every catalog version, by each secret its manifest declares."""
    declared: Declared = {}
    columns = (CatalogVersion.item_id, CatalogVersion.version, CatalogVersion.bundle_sha256, CatalogVersion.manifest)
    for item_id, version, sha, manifest in s.execute(select(*columns)).all():
        names = manifest.get("secrets") if isinstance(manifest, dict) else None
        for name in names if isinstance(names, list) else ():
            declared.setdefault(str(name), []).append((item_id, version, sha))
    return declared


def _view(s: Session, secret: Secret, declared: Declared | None = None) -> SecretOut:
    grants = _grants(s, secret)
    wanting = (declared if declared is not None else _declaring(s)).get(secret.name, [])
    uncovered = [
        UncoveredVersion(item_id=item_id, version=version)
        for item_id, version, sha in sorted(wanting)
        if item_id not in grants or not grants[item_id].covers(version, sha)
    ]
    return SecretOut(
        name=secret.name,
        description=secret.description,
        items=[str(grants[item_id]) for item_id in sorted(grants)],
        uncovered=uncovered,
        created_by=secret.created_by_name,
        created_at=secret.created_at,
        updated_at=secret.updated_at,
    )


def _get(s: Session, name: str) -> Secret:
    secret = s.scalar(select(Secret).where(Secret.name == name))
    if secret is None:
        raise NotFound(f"secret {name!r} not found", details={"field": "name"})
    return secret


def _grant(s: Session, secret: Secret, grants: list[Grant]) -> None:
    s.execute(delete(SecretGrant).where(SecretGrant.secret_id == secret.id))
    for grant in grants:
        s.add(SecretGrant(secret_id=secret.id, item_id=grant.item_id, versions=grant.versions, pins=grant.pins))


def coverage(s: Session, version: CatalogVersion) -> dict[str, str]:
    """For each secret a version's manifest declares: `granted` (its jobs get it), `not granted` (the secret
    exists but no grant covers this version and bundle) or `missing` (no secret has that name)."""
    names = version.manifest.get("secrets") if isinstance(version.manifest, dict) else None
    wanted = sorted({str(n) for n in names}) if isinstance(names, list) else []
    if not wanted:
        return {}
    rows = s.execute(
        select(Secret.name, SecretGrant.versions, SecretGrant.pins)
        .outerjoin(SecretGrant, (SecretGrant.secret_id == Secret.id) & (SecretGrant.item_id == version.item_id))
        .where(Secret.name.in_(wanted))
    ).all()
    found = {
        name: versions is not None
        and Grant(version.item_id, versions, dict(pins or {})).covers(version.version, version.bundle_sha256)
        for name, versions, pins in rows
    }
    return {name: "missing" if name not in found else "granted" if found[name] else "not granted" for name in wanted}


def list_secrets() -> list[SecretOut]:
    with db.read() as s:
        declared = _declaring(s)
        return [_view(s, secret, declared) for secret in s.scalars(select(Secret).order_by(Secret.name))]


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
        grants = parse(s, body.items)
        s.add(secret)
        s.flush()
        _grant(s, secret, grants)
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
            _grant(s, secret, parse(s, body.items))
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


def extend_secret(actor: Principal, name: str, body: SecretExtend) -> SecretOut:
    """Widen the grants by the versions `body.items` names (a range, or a bare item's existing versions)."""
    with db.write() as s:
        secret = _get(s, name)
        before = _view(s, secret)
        current = _grants(s, secret)
        grants = dict(current)
        for addition in parse(s, body.items):
            grants[addition.item_id] = extended(grants.get(addition.item_id), addition, s)
        if grants == current:
            return before  # covered already: nothing changes, nothing to audit
        _grant(s, secret, [grants[item_id] for item_id in sorted(grants)])
        secret.updated_at = utcnow()
        s.flush()
        after = _view(s, secret)
        details = {"asked": body.items, "before": {"items": before.items}, "after": {"items": after.items}}
        audit.record(s, actor, "secret.extend", target_type="secret", target_id=name, details=details)
    return after


def delete_secret(actor: Principal, name: str) -> None:
    with db.write() as s:
        secret = _get(s, name)
        s.delete(secret)
        audit.record(s, actor, "secret.delete", target_type="secret", target_id=name)


def missing_for(item_id: str, version: str, bundle_sha256: str, names: Sequence[str]) -> list[str]:
    """Which of `names` do not exist or have no grant covering this version and bundle of `item_id`."""
    if not names:
        return []
    with db.read() as s:
        rows = s.execute(
            select(Secret.name, SecretGrant.versions, SecretGrant.pins)
            .join(SecretGrant, SecretGrant.secret_id == Secret.id)
            .where(Secret.name.in_(list(names)), SecretGrant.item_id == item_id)
        ).all()
    granted = {
        name for name, versions, pins in rows if Grant(item_id, versions, pins or {}).covers(version, bundle_sha256)
    }
    return [name for name in names if name not in granted]


def refusal(
    item_id: str, version: str, bundle_sha256: str, names: Sequence[str], *, development: bool = False
) -> Conflict | None:
    """Why a job of this version of `item_id` could not get the secrets it declares, or None when it could.
    A development version runs from a folder whose code changes without an import: it never gets secrets."""
    if not names:
        return None
    details = {"item_id": item_id, "version": version}
    if development:
        return Conflict(
            f"{item_id} {version} is a development version (run from its folder, whose code may change at any "
            f"time): it gets no secrets ({', '.join(names)}); import it as a release",
            details={**details, "missing": list(names)},
        )
    missing = missing_for(item_id, version, bundle_sha256, names)
    if not missing:
        return None
    return Conflict(
        f"{item_id} {version} needs secrets that are not granted to this version: {', '.join(missing)} "
        "(an admin grants them, or extends a grant of other versions, on the Secrets page)",
        details={**details, "missing": missing},
    )


def values_for(
    item_id: str, version: str, bundle_sha256: str, names: Sequence[str], *, development: bool = False
) -> dict[str, str]:
    """The decrypted values of the secrets a job declares (Conflict when one is not granted to its version)."""
    refused = refusal(item_id, version, bundle_sha256, names, development=development)
    if refused is not None:
        raise refused
    with db.read() as s:
        rows = s.execute(select(Secret.name, Secret.ciphertext).where(Secret.name.in_(list(names)))).all()
    return {name: crypto.decrypt(ciphertext) for name, ciphertext in rows}
