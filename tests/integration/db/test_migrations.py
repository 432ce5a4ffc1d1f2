"""Migrations that rewrite data, run on real databases: what was there before reads the same way after."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.fernet import Fernet
from sqlalchemy import text, update

from portal.catalog import service as catalog_service
from portal.db import migrate
from portal.db import session as db
from portal.db.base import Base, utcnow
from portal.identity.principal import SYSTEM
from portal.jobs import service as jobs_service
from portal.jobs import usage
from portal.jobs.models import Job
from portal.secrets import service as secrets_service
from portal.secrets.schemas import SecretCreate
from tests.conftest import migrated_database
from tests.helpers import item_files, write


def _alembic(revision: str, *, down: bool = False) -> None:
    config = migrate.alembic_config()
    with db.get_engine().begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    key = Fernet.generate_key().decode()
    with migrated_database(request, tmp_path / "data", catalog_load_examples=False, secrets_key=[key]):
        yield


@pytest.mark.usefixtures("database")
def test_secret_grants_made_before_versions_cover_the_versions_that_existed(tmp_path: Path) -> None:
    for version in ("1.0.0", "1.10.0", "1.2.0"):
        write(tmp_path / "items" / "granted" / version, item_files("granted", version))
    catalog_service.import_local(SYSTEM, str(tmp_path / "items"), enforce_roots=False)
    secrets_service.create_secret(SYSTEM, SecretCreate(name="OLD_GRANT", value="v4lue-x", items=["granted"]))
    _alembic("0010_login_throttles", down=True)  # the grants as they were: an item id, no versions
    with db.write() as s:
        secret_id = s.execute(text("SELECT id FROM secrets WHERE name = 'OLD_GRANT'")).scalar_one()
        s.execute(text("INSERT INTO secret_grants (secret_id, item_id) VALUES (:s, 'ghost')"), {"s": secret_id})
    _alembic("head")
    (secret,) = secrets_service.list_secrets()
    # Every version that existed, in semver order; the grant of an item without versions is gone.
    assert secret.items == ["granted@=1.0.0 || =1.2.0 || =1.10.0"]
    with db.read() as s:
        sha = s.execute(text("SELECT bundle_sha256 FROM catalog_versions WHERE version = '1.10.0'")).scalar_one()
    assert secrets_service.missing_for("granted", "1.10.0", sha, ["OLD_GRANT"]) == []
    assert secrets_service.missing_for("granted", "1.10.0", "0" * 64, ["OLD_GRANT"]) == ["OLD_GRANT"]  # other code
    assert secrets_service.missing_for("granted", "1.11.0", sha, ["OLD_GRANT"]) == ["OLD_GRANT"]


@pytest.mark.usefixtures("database")
def test_the_lifecycle_migration_keeps_every_version_and_deprecates_from_manifests(tmp_path: Path) -> None:
    write(tmp_path / "items" / "kept" / "1.0.0", item_files("kept", "1.0.0", extra_manifest="deprecated: use 2.0.0\n"))
    write(tmp_path / "items" / "kept" / "2.0.0", item_files("kept", "2.0.0"))
    catalog_service.import_local(SYSTEM, str(tmp_path / "items"), enforce_roots=False)
    _alembic("0011_secret_grant_versions", down=True)
    with db.write() as s:  # as the catalog was: the manifest's deprecation was only a label on an active version
        s.execute(text("UPDATE catalog_versions SET status = 'active'"))
    _alembic("head")
    with db.read() as s:
        rows = s.execute(text("SELECT version, status, status_reason FROM catalog_versions ORDER BY version")).all()
    assert [tuple(r) for r in rows] == [("1.0.0", "deprecated", "use 2.0.0"), ("2.0.0", "active", None)]


@pytest.mark.usefixtures("database")
def test_the_migrated_schema_is_what_the_models_say() -> None:
    """Alembic's own comparison of the migrated database with the models: a column, index or table one of them
    lacks is a difference."""
    with db.get_engine().connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


@pytest.mark.usefixtures("database")
def test_existing_items_are_maintained_by_the_publishers_who_imported_them(tmp_path: Path) -> None:
    from portal.auth import service as auth_service
    from portal.identity.principal import Principal
    from portal.identity.roles import Role

    auth_service.create_user(SYSTEM, "pub-old", "publisher", "long-enough-password-1")
    publisher = Principal(id=None, username="pub-old", role=Role.publisher, via="cli")
    write(tmp_path / "mine" / "theirs-old" / "1.0.0", item_files("theirs-old", "1.0.0"))
    write(tmp_path / "open" / "shared-old" / "1.0.0", item_files("shared-old", "1.0.0"))
    catalog_service.import_local(publisher, str(tmp_path / "mine"), enforce_roots=False)
    catalog_service.import_local(SYSTEM, str(tmp_path / "open"), enforce_roots=False)
    _alembic("0011_secret_grant_versions", down=True)
    _alembic("head")
    with db.read() as s:
        rows = {r.id: r.maintainers for r in s.execute(text("SELECT id, maintainers FROM catalog_items ORDER BY id"))}
    assert rows["theirs-old"] in (["pub-old"], '["pub-old"]')  # JSON, read back as text on SQLite
    assert rows["shared-old"] is None


@pytest.mark.usefixtures("database")
def test_the_usage_blocks_go_back_to_days_and_come_back_from_the_jobs(tmp_path: Path) -> None:
    write(tmp_path / "items" / "used" / "1.0.0", item_files("used", "1.0.0"))
    catalog_service.import_local(SYSTEM, str(tmp_path / "items"), enforce_roots=False)
    now = utcnow()
    for n, (days_ago, seconds) in enumerate([(0, 1), (0, 30), (3, 2), (20, 500), (70, 2), (70, 9000)]):
        created = jobs_service.create_job(SYSTEM, "used", "1.0.0", {}).id
        at = now - timedelta(days=days_ago)
        with db.write() as s:
            state = "FAILED" if n % 3 == 2 else "SUCCEEDED"
            values = {"state": state, "started_at": at, "finished_at": at + timedelta(seconds=seconds), "cpu_ms": 5}
            s.execute(update(Job).where(Job.id == created).values(**values))
    with db.write() as s:
        usage.rebuild(s.connection())

    def tables(*names: str) -> dict[str, list[tuple[Any, ...]]]:
        with db.read() as s:
            return {name: sorted(tuple(r) for r in s.execute(text(f"SELECT * FROM {name}"))) for name in names}

    before = tables("job_usage", "job_usage_buckets")
    assert {row[0] for row in before["job_usage"]} == set(usage.SPANS)
    _alembic("0014_analytics", down=True)
    days = tables("job_version_daily", "job_duration_daily")
    assert days["job_version_daily"] == [row[1:] for row in before["job_usage"] if row[0] == 1]
    runs: dict[tuple[Any, int], int] = {(day, bucket): n for day, _, _, bucket, n in days["job_duration_daily"]}
    expected: dict[tuple[Any, int], int] = {
        (row[1], row[4] * 16 + index): n
        for row in before["job_usage_buckets"]
        if row[0] == 1  # the span (then the day, item, version, part and the 16 counts)
        for index, n in enumerate(row[5:])
        if n
    }
    assert runs == expected and sum(runs.values()) == 6
    _alembic("head")
    assert tables("job_usage", "job_usage_buckets") == before
