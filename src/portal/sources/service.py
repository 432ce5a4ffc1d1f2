"""The sources document as admins keep it: read the current revision, validate, save with optimistic
concurrency (If-Match of the content hash), list and diff revisions, roll back, apply and export for GitOps, and
seed the first revision from PORTAL_SOURCES_FILE.

Every response and audit entry shows the document redacted (`redaction.redact`); a client that saves back what
it read keeps the stored credentials where it left the masked values unchanged (`redaction.restore`).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Collection
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.audit import service as audit
from portal.db import session as db
from portal.errors import Conflict, NotFound, PreconditionRequired, ValidationFailed
from portal.identity.principal import SYSTEM, Principal
from portal.sources import document as doc
from portal.sources import status, validation
from portal.sources.models import SourcesRevision
from portal.sources.redaction import redact, restore
from portal.sources.schemas import (
    FieldChange,
    RevisionDetail,
    RevisionDiff,
    RevisionOut,
    RevisionPage,
    SaveResult,
    SourcesView,
    ValidationAnswer,
)

log = logging.getLogger(__name__)
MAX_MESSAGE = 500


# --- reading --------------------------------------------------------------------------------------------------


def _newest(s: Session) -> SourcesRevision | None:
    return s.scalar(select(SourcesRevision).order_by(SourcesRevision.id.desc()).limit(1))


def _content(revision: SourcesRevision | None) -> dict[str, Any]:
    return dict(revision.content) if revision is not None else doc.empty()


def _hash(revision: SourcesRevision | None) -> str:
    return revision.content_hash if revision is not None else doc.content_hash(doc.empty())


def etag(content_hash: str) -> str:
    """The ETag header's value: the content hash, quoted."""
    return f'"{content_hash}"'


def _view(revision: SourcesRevision | None, s: Session) -> SourcesView:
    content = redact(_content(revision))
    found = status.statuses(s, content.get("sources", []))
    sources = [{**source, "status": found[str(source.get("id"))]} for source in content.get("sources", [])]
    return SourcesView.model_validate(
        {
            "apiVersion": content.get("apiVersion", doc.API_VERSION),
            "kind": content.get("kind", doc.KIND),
            "sources": sources,
            "revision": revision.id if revision is not None else None,
            "etag": etag(_hash(revision)),
            "author": revision.author if revision is not None else None,
            "created_at": revision.created_at if revision is not None else None,
            "message": revision.message if revision is not None else "",
        }
    )


def current() -> SourcesView:
    """The current document (redacted), each source with its status (`status.statuses`), and its revision and
    ETag."""
    with db.read() as s:
        newest = _newest(s)
        return _view(newest, s)


def current_content() -> dict[str, Any]:
    """The current document as stored (credentials included): for this process's own use, never a response."""
    with db.read() as s:
        return _content(_newest(s))


def export_yaml() -> str:
    """The current document as YAML, redacted (applying it back keeps the stored credentials)."""
    return doc.to_yaml(redact(current_content()))


# --- validating and saving ------------------------------------------------------------------------------------


def validate_body(body: bytes, *, yaml_input: bool, probe: bool) -> ValidationAnswer:
    """The validation answer for a request body; nothing is saved. Masked values read from the current document
    count as the stored ones."""
    answer, _ = _validate_body(body, yaml_input=yaml_input, probe=probe)
    return answer


# What GET adds to the document: a client may send back what it read, and these are dropped, not refused.
READ_ONLY = frozenset({"revision", "etag", "author", "created_at", "message"})


def _without_read_only(data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    kept = {key: value for key, value in data.items() if key not in READ_ONLY}
    if isinstance(kept.get("sources"), list):
        kept["sources"] = [
            {k: v for k, v in source.items() if k != "status"} if isinstance(source, dict) else source
            for source in kept["sources"]
        ]
    return kept


def _validate_body(
    body: bytes, *, yaml_input: bool, probe: bool = False, probe_only: Collection[str] | None = None
) -> tuple[ValidationAnswer, dict[str, Any]]:
    try:
        data, lines = validation.parse_body(body, yaml_input)
    except validation.ParseError:
        return validation.validate_body(body, yaml_input=yaml_input, probe=probe)
    restored = restore(_without_read_only(data), current_content())
    return validation.validate(restored, lines, probe=probe, probe_only=probe_only)


def changed_enabled(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The ids of the enabled sources of `after` that are new or differ from `before` (both normalized)."""
    old = {str(source.get("id")): source for source in before.get("sources", [])}
    return [
        str(source["id"])
        for source in after.get("sources", [])
        if source.get("enabled", True) and old.get(str(source.get("id"))) != source
    ]


def _validate_for_save(body: bytes, *, yaml_input: bool, probe: bool) -> tuple[ValidationAnswer, dict[str, Any]]:
    """The validation answer of a save: with `probe`, each new or changed enabled source is probed too (an
    unchanged one is not: a remote that is down stops no other edit)."""
    answer, content = _validate_body(body, yaml_input=yaml_input)
    if answer.valid and probe:
        changed = changed_enabled(current_content(), content)
        if changed:
            return _validate_body(body, yaml_input=yaml_input, probe=True, probe_only=changed)
    return answer, content


def _match(if_match: str | None) -> str:
    """The content hash an If-Match names (quoted or not, weak or not); 428 without one."""
    value = (if_match or "").strip()
    if not value:
        raise PreconditionRequired(
            "If-Match is required: send the ETag of the sources document you read (GET /api/admin/sources)",
            details={"header": "If-Match"},
        )
    return value.removeprefix("W/").strip().strip('"')


def _stale(current_hash: str) -> Conflict:
    return Conflict(
        "the sources configuration changed since it was read: read it again (its ETag is in details), "
        "apply your change to it and save again",
        details={"etag": etag(current_hash)},
        code="stale_revision",
    )


def _refuse(answer: ValidationAnswer) -> ValidationFailed:
    count = len(answer.errors)
    return ValidationFailed(
        f"the sources document is not valid ({count} problem{'s' if count != 1 else ''})",
        details=answer.model_dump(mode="json"),
    )


def _store(
    actor: Principal, content: dict[str, Any], expected: str | None, message: str, action: str
) -> tuple[bool, SourcesView]:
    """Save `content` as the next revision when it differs from the current one, which must still have the hash
    `expected` (None: whatever it is). Audited with the redacted documents before and after."""
    new_hash = doc.content_hash(content)
    try:
        with db.write() as s:
            newest = _newest(s)
            if expected is not None and _hash(newest) != expected:
                raise _stale(_hash(newest))
            if _hash(newest) == new_hash:
                return False, _view(newest, s)
            revision = SourcesRevision(
                id=(newest.id if newest is not None else 0) + 1,
                content=content,
                content_hash=new_hash,
                author=actor.username,
                message=message[:MAX_MESSAGE],
            )
            s.add(revision)
            s.flush()
            audit.record(
                s,
                actor,
                action,
                target_type="sources",
                target_id=revision.id,
                details={
                    "before": redact(_content(newest)),
                    "after": redact(content),
                    "message": revision.message,
                    "content_hash": new_hash,
                },
            )
            view = _view(revision, s)
    except IntegrityError:
        with db.read() as s:
            raise _stale(_hash(_newest(s))) from None
    log.info("sources: revision %d saved by %s (%s)", revision.id, actor.username, new_hash[:12])
    return True, view


def save(
    actor: Principal,
    body: bytes,
    if_match: str | None,
    message: str = "",
    *,
    yaml_input: bool = False,
    probe: bool = False,
) -> SaveResult:
    """PUT: the whole document as JSON (or YAML text, whose problems then carry their line), If-Match of the
    current ETag (428 without, 409 stale), 422 with the validation answer when invalid (with `probe`, a new or
    changed enabled source that does not answer is invalid); a new revision otherwise (none when nothing
    changed)."""
    expected = _match(if_match)
    with db.read() as s:
        current_hash = _hash(_newest(s))
    if current_hash != expected:
        raise _stale(current_hash)
    answer, content = _validate_for_save(body, yaml_input=yaml_input, probe=probe)
    if not answer.valid:
        raise _refuse(answer)
    saved, view = _store(actor, content, expected, message, "sources.update")
    return SaveResult(saved=saved, warnings=answer.warnings, current=view)


def rollback(actor: Principal, revision_id: int, if_match: str | None) -> SaveResult:
    """A new revision with the content of an older one (checked again: a secret it names may be gone)."""
    expected = _match(if_match)
    with db.read() as s:
        target = s.get(SourcesRevision, revision_id)
        current_hash = _hash(_newest(s))
    if target is None:
        raise NotFound(f"sources revision {revision_id} not found", details={"field": "revision"})
    if current_hash != expected:
        raise _stale(current_hash)
    answer, content = validation.validate(dict(target.content))
    if not answer.valid:
        raise _refuse(answer)
    message = f"rollback to revision {revision_id}"
    saved, view = _store(actor, content, expected, message, "sources.rollback")
    return SaveResult(saved=saved, warnings=answer.warnings, current=view)


def apply_text(
    text: str, *, yaml_input: bool, message: str, actor: Principal = SYSTEM, probe: bool = False
) -> tuple[ValidationAnswer, bool]:
    """`portal sources apply` and the seed: validate (with `probe`, probing the new or changed enabled sources)
    and save whatever the current revision is."""
    answer, content = _validate_for_save(text.encode(), yaml_input=yaml_input, probe=probe)
    if not answer.valid:
        return answer, False
    saved, _ = _store(actor, content, None, message, "sources.apply")
    return answer, saved


def seed_from_file(path: Path) -> None:
    """At start: when no revision exists, the first one from PORTAL_SOURCES_FILE. An unreadable or invalid file
    is logged and saves nothing; the portal starts either way."""
    with db.read() as s:
        if _newest(s) is not None:
            return
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        log.error("sources: PORTAL_SOURCES_FILE %s cannot be read (%s): nothing seeded", path, exc)
        return
    answer, saved = apply_text(text, yaml_input=True, message=f"seeded from {path}")
    if not answer.valid:
        problems = "; ".join(f"{p.field} (line {p.line}): {p.message}" for p in answer.errors)
        log.error("sources: PORTAL_SOURCES_FILE %s is not valid, nothing seeded: %s", path, problems)
    elif saved:
        log.info("sources: the first revision was seeded from %s", path)


# --- revisions ------------------------------------------------------------------------------------------------


def _revision_out(revision: SourcesRevision) -> dict[str, Any]:
    return {
        "revision": revision.id,
        "content_hash": revision.content_hash,
        "author": revision.author,
        "message": revision.message,
        "created_at": revision.created_at,
        "sources": len(revision.content.get("sources", [])),
    }


def list_revisions(page: int, page_size: int) -> RevisionPage:
    """Newest first."""
    with db.read() as s:
        total = s.scalar(select(func.count()).select_from(SourcesRevision)) or 0
        rows = s.scalars(
            select(SourcesRevision).order_by(SourcesRevision.id.desc()).offset((page - 1) * page_size).limit(page_size)
        ).all()
    items = [RevisionOut.model_validate(_revision_out(r)) for r in rows]
    return RevisionPage(items=items, total=total, page=page, page_size=page_size)


def _get(s: Session, revision_id: int) -> SourcesRevision:
    revision = s.get(SourcesRevision, revision_id)
    if revision is None:
        raise NotFound(f"sources revision {revision_id} not found", details={"field": "revision"})
    return revision


def get_revision(revision_id: int) -> RevisionDetail:
    """One revision with its document (redacted)."""
    with db.read() as s:
        revision = _get(s, revision_id)
    return RevisionDetail.model_validate({**_revision_out(revision), "document": redact(dict(revision.content))})


def _by_id(content: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(source.get("id")): source for source in content.get("sources", [])}


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    """The changed fields between two documents; a source is named by its id (`sources[platform].url`)."""
    found = [
        FieldChange(field=key, change="changed", before=before.get(key), after=after.get(key))
        for key in ("apiVersion", "kind")
        if before.get(key) != after.get(key)
    ]
    old, new = _by_id(before), _by_id(after)
    for source_id in [*old, *(i for i in new if i not in old)]:
        name = f"sources[{source_id}]"
        if source_id not in new:
            found.append(FieldChange(field=name, change="removed", before=old[source_id]))
        elif source_id not in old:
            found.append(FieldChange(field=name, change="added", after=new[source_id]))
        else:
            a, b = old[source_id], new[source_id]
            for key in [*a, *(k for k in b if k not in a)]:
                if key not in b:
                    found.append(FieldChange(field=f"{name}.{key}", change="removed", before=a[key]))
                elif key not in a:
                    found.append(FieldChange(field=f"{name}.{key}", change="added", after=b[key]))
                elif a[key] != b[key]:
                    found.append(FieldChange(field=f"{name}.{key}", change="changed", before=a[key], after=b[key]))
    return found


def diff(revision_id: int, against: int | None) -> RevisionDiff:
    """What changed from `against` (default: the revision before) to `revision_id`, redacted: a list of changed
    fields and a unified diff of the two documents as YAML."""
    with db.read() as s:
        revision = _get(s, revision_id)
        if against is None:
            older = s.scalar(
                select(SourcesRevision)
                .where(SourcesRevision.id < revision_id)
                .order_by(SourcesRevision.id.desc())
                .limit(1)
            )
        else:
            older = _get(s, against)
    before = redact(_content(older))
    after = redact(dict(revision.content))
    unified = difflib.unified_diff(
        doc.to_yaml(before).splitlines(keepends=True),
        doc.to_yaml(after).splitlines(keepends=True),
        fromfile=f"revision {older.id}" if older is not None else "(empty)",
        tofile=f"revision {revision.id}",
    )
    return RevisionDiff(
        revision=revision.id,
        against=older.id if older is not None else None,
        changes=changes(before, after),
        unified="".join(unified),
    )
