"""The sources document in process, on SQLite and PostgreSQL: each validation layer, saves with If-Match,
revisions, diffs, rollback, redaction in the audit trail, and the seed from PORTAL_SOURCES_FILE."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.db import session as db
from portal.errors import Conflict, PreconditionRequired, ValidationFailed
from portal.identity.principal import SYSTEM
from portal.secrets import service as secrets_service
from portal.secrets.schemas import SecretCreate
from portal.settings import Settings
from portal.sources import service
from portal.sources.document import content_hash, empty
from portal.sources.models import SourcesRevision
from tests.conftest import migrated_database
from tests.helpers import TEST_SECRETS_KEY, git

TOKEN = "glpat-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    roots = tmp_path / "roots"
    (roots / "catalog").mkdir(parents=True)
    options = {"catalog_local_roots": [roots], "git_allow_file": True, "secrets_key": [TEST_SECRETS_KEY]}
    with migrated_database(request, tmp_path / "data", **options) as settings:
        yield settings


def doc(*sources: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "portal/v1", "kind": "CatalogSources", "sources": list(sources)}


def body(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def folder(settings: Settings, source_id: str = "local", **extra: Any) -> dict[str, Any]:
    return {"id": source_id, "type": "folder", "path": str(settings.catalog_local_roots[0] / "catalog"), **extra}


def layers(answer: Any) -> dict[str, bool | None]:
    return {layer.layer: layer.valid for layer in answer.layers}


YAML_UNKNOWN = """apiVersion: portal/v1
kind: CatalogSources
sources:
  - id: platform
    type: git
    url: https://git.example.com/c.git
    credentials:
      secret: DEPLOY
      token: abc
"""


def test_parse_layer_names_the_yaml_line(database: Settings) -> None:
    answer = service.validate_body(b"apiVersion: portal/v1\nsources: [\n  - x\n", yaml_input=True, probe=False)
    assert not answer.valid and layers(answer)["parse"] is False and answer.errors[0].line == 3
    assert answer.layers[1].valid is None and answer.layers[1].note == "not run: the parse layer failed"
    assert service.validate_body(b"{", yaml_input=False, probe=False).errors[0].field == "(document)"


def test_schema_layer_refuses_unknown_fields_in_provider_blocks_with_field_and_line(database: Settings) -> None:
    answer = service.validate_body(YAML_UNKNOWN.encode(), yaml_input=True, probe=False)
    assert [(e.field, e.line, e.message) for e in answer.errors] == [
        ("sources[0].credentials.token", 9, "unknown field 'token'")
    ]
    assert layers(answer) == {"parse": True, "schema": False, "semantics": None, "security": None, "probe": None}


def test_schema_layer_refuses_wrong_types_without_coercion(database: Settings) -> None:
    answer = service.validate_body(body(doc(folder(database, poll_seconds="300", enabled=1))), yaml_input=False,
                                   probe=False)  # fmt: skip
    assert {e.field for e in answer.errors} == {"sources[0].poll_seconds", "sources[0].enabled"}


def test_semantics_layer(database: Settings, tmp_path: Path) -> None:
    sources: list[dict[str, Any]] = [
        {"id": "Bad Id", "type": "git", "url": "https://h/r.git"},
        {"id": "dup", "type": "git", "url": "ftp://h/r.git", "tags": "no-at-sign", "path": "../up"},
        {"id": "dup", "type": "folder", "path": str(tmp_path), "poll_seconds": 10},
    ]
    answer = service.validate_body(body(doc(*sources)), yaml_input=False, probe=False)
    fields = {e.field for e in answer.errors}
    assert fields == {
        "sources[0].id", "sources[1].url", "sources[1].tags", "sources[1].path", "sources[2].id",
        "sources[2].path", "sources[2].poll_seconds",
    }  # fmt: skip
    assert layers(answer)["semantics"] is False and layers(answer)["security"] is None


def test_file_urls_need_the_setting(database: Settings) -> None:
    source = {"id": "f", "type": "git", "url": "file:///srv/repo"}
    assert service.validate_body(body(doc(source)), yaml_input=False, probe=False).valid
    database.git_allow_file = False
    answer = service.validate_body(body(doc(source)), yaml_input=False, probe=False)
    assert "PORTAL_GIT_ALLOW_FILE" in answer.errors[0].message


def test_security_layer_warns_of_inline_credentials_and_refuses_them_when_strict(database: Settings) -> None:
    sources = [{"id": "g", "type": "git", "url": "https://bob:hunter2@h/r.git"}, folder(database, path=TOKEN)]
    answer = service.validate_body(body(doc(*sources)), yaml_input=False, probe=False)
    assert answer.valid and [w.field for w in answer.warnings] == ["sources[0].url", "sources[1].path"]
    assert "admin secret" in answer.warnings[0].message and TOKEN not in answer.model_dump_json()
    database.sources_strict = True
    answer = service.validate_body(body(doc(*sources)), yaml_input=False, probe=False)
    assert not answer.valid and layers(answer)["security"] is False and answer.warnings == []
    assert [e.field for e in answer.errors] == ["sources[0].url", "sources[1].path"]


def test_security_layer_needs_the_referenced_secret(database: Settings) -> None:
    source = {"id": "g", "type": "git", "url": "https://h/r.git", "credentials": {"secret": "DEPLOY_TOKEN"}}
    answer = service.validate_body(body(doc(source)), yaml_input=False, probe=False)
    assert [(e.field, layers(answer)["security"]) for e in answer.errors] == [("sources[0].credentials.secret", False)]
    secrets_service.create_secret(SYSTEM, SecretCreate(name="DEPLOY_TOKEN", value="t"))
    assert service.validate_body(body(doc(source)), yaml_input=False, probe=False).valid


def test_probe_layer_runs_only_when_asked(database: Settings, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "commit", "-q", "--allow-empty", "-m", "first")
    git(repo, "tag", "hello@1.0.0")
    good = [{"id": "g", "type": "git", "url": f"file://{repo}"}, folder(database)]
    answer = service.validate_body(body(doc(*good)), yaml_input=False, probe=False)
    assert answer.valid and answer.layers[-1].note == "not run: only when asked (probe=true)"
    answer = service.validate_body(body(doc(*good)), yaml_input=False, probe=True)
    assert answer.valid and layers(answer)["probe"] is True
    bad = [{"id": "g", "type": "git", "url": f"file://{tmp_path}/nothing"}, folder(database, path="missing")]
    answer = service.validate_body(body(doc(*bad)), yaml_input=False, probe=True)
    assert layers(answer)["probe"] is False
    assert [e.field for e in answer.errors] == ["sources[0].url", "sources[1].path"]
    assert "git ls-remote" in answer.errors[0].message and "does not exist" in answer.errors[1].message


def test_saves_need_the_current_etag(database: Settings) -> None:
    first = service.current()
    assert first.revision is None and first.etag == f'"{content_hash(empty())}"' and first.sources == []
    with pytest.raises(PreconditionRequired):
        service.save(SYSTEM, body(doc(folder(database))), None)
    saved = service.save(SYSTEM, body(doc(folder(database))), first.etag, "first")
    assert saved.saved and saved.current.revision == 1 and saved.current.etag != first.etag
    with pytest.raises(Conflict) as stale:
        service.save(SYSTEM, body(doc(folder(database, "other"))), first.etag)
    assert stale.value.details == {"etag": saved.current.etag} and "changed since it was read" in stale.value.message
    assert service.current().revision == 1
    with pytest.raises(ValidationFailed) as invalid:
        service.save(SYSTEM, body(doc(folder(database, "Bad"))), saved.current.etag)
    assert invalid.value.details["valid"] is False and invalid.value.details["errors"][0]["field"] == "sources[0].id"
    again = service.save(SYSTEM, body(doc(folder(database))), saved.current.etag)
    assert not again.saved and again.current.revision == 1  # nothing changed: no revision


def test_revisions_diff_and_rollback(database: Settings) -> None:
    etag = service.current().etag
    etag = service.save(SYSTEM, body(doc(folder(database))), etag, "one").current.etag
    second = doc(folder(database, poll_seconds=0), {"id": "g", "type": "git", "url": "https://h/r.git"})
    etag = service.save(SYSTEM, body(second), etag, "two").current.etag
    page = service.list_revisions(1, 50)
    assert [r.revision for r in page.items] == [2, 1] and page.total == 2 and page.items[0].message == "two"
    assert service.get_revision(1).document.sources[0].id == "local"
    diff = service.diff(2, None)
    assert diff.against == 1
    assert {(c.field, c.change) for c in diff.changes} == {
        ("sources[local].poll_seconds", "changed"), ("sources[g]", "added"),
    }  # fmt: skip
    assert "-  poll_seconds: 300" in diff.unified and "+  poll_seconds: 0" in diff.unified
    assert service.diff(1, None).against is None
    with pytest.raises(PreconditionRequired):
        service.rollback(SYSTEM, 1, None)
    with pytest.raises(Conflict):
        service.rollback(SYSTEM, 1, '"0000"')
    rolled = service.rollback(SYSTEM, 1, etag)
    assert rolled.saved and rolled.current.revision == 3
    with db.read() as s:
        contents = {r: s.scalar(select(SourcesRevision.content).where(SourcesRevision.id == r)) for r in (1, 3)}
    assert contents[1] == contents[3] and service.list_revisions(1, 1).items[0].message == "rollback to revision 1"


def test_responses_and_audit_are_redacted(database: Settings) -> None:
    source = {"id": "g", "type": "git", "url": "https://bob:hunter2@h/r.git"}
    saved = service.save(SYSTEM, body(doc(source)), service.current().etag, "inline")
    assert saved.warnings and "hunter2" not in saved.model_dump_json()
    assert "hunter2" not in service.current().model_dump_json()
    assert "hunter2" not in service.get_revision(1).model_dump_json()
    assert "hunter2" not in service.export_yaml()
    with db.read() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "sources.update")).all()
    assert len(entries) == 1 and "hunter2" not in json.dumps(entries[0].details)
    assert entries[0].details["after"]["sources"][0]["url"] == "https://bob:***@h/r.git"
    # Saving back what was read keeps the stored password (and makes no revision).
    read = service.current().model_dump(mode="json")
    back = doc(*({k: v for k, v in s.items() if k != "status"} for s in read["sources"]))
    assert not service.save(SYSTEM, body(back), read["etag"]).saved
    assert service.current_content()["sources"][0]["url"] == "https://bob:hunter2@h/r.git"


def test_seed_from_file(database: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(YAML_UNKNOWN)
    with caplog.at_level(logging.ERROR, logger="portal.sources.service"):
        service.seed_from_file(bad)
    assert service.current().revision is None and "sources[0].credentials.token (line 9)" in caplog.text
    service.seed_from_file(tmp_path / "missing.yaml")
    assert service.current().revision is None
    good = tmp_path / "sources.yaml"
    good.write_text(f"apiVersion: portal/v1\nkind: CatalogSources\nsources:\n  - {json.dumps(folder(database))}\n")
    service.seed_from_file(good)
    assert service.current().revision == 1 and service.current().author == "system"
    good.write_text("apiVersion: portal/v1\nkind: CatalogSources\nsources: []\n")
    service.seed_from_file(good)  # a revision exists: the file is not read again
    assert service.current().revision == 1
